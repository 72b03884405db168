"""Governance of a platform's BFFs: the contracts they publish and consume, and the data
classes of what they expose, checked in ``make test``.

``python -m tailor.govern <command>``; each command is a module of this package that defines
``COMMAND`` (a :class:`~tailor.govern.command.Command`), found at startup, so a new command
is a new module and nothing else changes:

    openapi   print (or --check, --write) a BFF's OpenAPI document        (openapi.py)
    diff      classify the changes between two documents; breaking ones   (diff.py)
              fail unless the operation was deprecated in the old one
    classes   the data classes each BFF exposes and reads                 (classes.py)
    contracts list the Pact contracts, or verify them: the matrix          (contracts.py)
    sunset-check  calls per client version to a deprecated route, from the  (sunset.py)
              BFF's metrics; refuses a sunset while its share is above the threshold

The data classes themselves are in :mod:`tailor.govern.labels`, the gate on personal fields
in :mod:`tailor.govern.exposure` (run by ``BFF.check``), the config's ``governance`` table in
:mod:`tailor.govern.settings`.
"""
