"""Commands at the edge: idempotency keys, optimistic concurrency, relayed refusals.

A BFF's command route reads the body (:func:`decode_body`), asks the service that decides
(:func:`send_command`: its 404/403/412/... relayed as they are), and carries a version ETag
across (:func:`if_match`, :func:`versioned`). ``Idempotency-Key`` is the ``idempotency``
stage's (:mod:`tailor.commands.stage`), switched on by ``commands.idempotency``. See
docs/commands.md.
"""

from __future__ import annotations

from tailor.commands.preconditions import if_match, versioned
from tailor.commands.relay import Answer, decode_body, send_command
from tailor.commands.stage import IdempotencyStage

__all__ = ["Answer", "IdempotencyStage", "decode_body", "if_match", "send_command", "versioned"]
