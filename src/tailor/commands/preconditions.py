"""Optimistic concurrency on edits: ``ETag`` out, ``If-Match`` back in (RFC 9110 s13.1.1).

The service that owns a resource holds its version and decides: a stale ``If-Match`` is its
412, a missing one its 428. The BFF only carries the version across: it refuses an edit
without ``If-Match`` before any call (428, :func:`if_match`), forwards the header inward,
and answers the service's ETag unchanged (:func:`versioned`).

A version ETag names the resource's state, not the bytes of one representation, so its
answers are marked ``no-transform``: the compress stage gives a compressed body an ETag of
its own, which the service could not match.
"""

from __future__ import annotations

from tailor.errors import PreconditionRequired
from tailor.http import Request, Response

NO_TRANSFORM = ("cache-control", "private, no-transform")


def if_match(request: Request) -> str:
    """The request's ``If-Match`` (428 when it has none).

    >>> if_match(Request("PATCH", "/p/1", "", {"if-match": '"3"'}, "127.0.0.1"))
    '"3"'
    """
    value = request.headers.get("if-match", "").strip()
    if not value:
        raise PreconditionRequired(
            "send If-Match with the ETag of the version this edit is based on"
        )
    return value


def versioned(response: Response, etag: str | None) -> Response:
    """``response`` carrying the service's version ``etag`` (kept byte for byte).

    >>> versioned(Response(200), '"4"').header("etag")
    '"4"'
    """
    if etag:
        response.headers.append(("etag", etag))
        response.headers.append(NO_TRANSFORM)
    return response
