"""OpenAPI 3.1 for a BFF, generated from its route table (docs/openapi.md).

    openapi_document(bff)   the document as a dict
    response_type(route)    what a route answers: ``-> Json[Body]``, or its ``response=``

A BFF serves its document when ``openapi.path`` is set (``BFF.check`` builds it, so a route
that does not declare its response stops startup naming it); ``python -m tailor.govern
openapi module`` prints it, and ``python -m tailor.govern diff`` classifies what changed.
"""

from tailor.openapi.document import build_document, openapi_document, response_type

__all__ = ["build_document", "openapi_document", "response_type"]
