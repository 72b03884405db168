"""A new BFF in one command: ``python -m tailor new <name>`` (:mod:`.cli`) writes a working
BFF from the templates beside this module (:mod:`.render`), and adds it to the platform's
registries it finds (:mod:`.platform`: the SLO spec, the OpenAPI documents). See
docs/scaffold.md.
"""
