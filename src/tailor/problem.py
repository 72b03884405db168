"""RFC 9457 problem details: the only shape of an error a client ever sees.

A problem never carries a stack trace or an upstream's own error text; ``detail`` is written
by tailor for the client.
"""

from __future__ import annotations

import msgspec

from tailor.http import Response

PROBLEM_CONTENT_TYPE = "application/problem+json"

_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    408: "Request Timeout",
    409: "Conflict",
    410: "Gone",
    413: "Content Too Large",
    412: "Precondition Failed",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    426: "Upgrade Required",
    428: "Precondition Required",
    429: "Too Many Requests",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
    505: "HTTP Version Not Supported",
}


class Problem(msgspec.Struct, omit_defaults=True):
    """The RFC 9457 body. ``type`` stays ``about:blank`` unless a BFF documents its own types."""

    status: int
    title: str
    detail: str = ""
    type: str = "about:blank"
    instance: str = ""
    request_id: str = ""
    parameter: str = ""


_encode = msgspec.json.Encoder().encode


def problem_response(
    status: int,
    detail: str = "",
    *,
    headers: tuple[tuple[str, str], ...] = (),
    parameter: str = "",
    request_id: str = "",
) -> Response:
    """Build a problem+json response.

    >>> problem_response(404, "no route for GET /nope").status
    404
    """
    body = _encode(
        Problem(
            status=status,
            title=_TITLES.get(status, "Error"),
            detail=detail,
            parameter=parameter,
            request_id=request_id,
        )
    )
    return Response(status, body, [("content-type", PROBLEM_CONTENT_TYPE), *headers])
