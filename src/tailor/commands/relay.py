"""A command sent to the service that decides it, its refusals relayed to the client.

The BFF decides nothing: the service answers 404 (a track the caller may not see), 403 (not
theirs), 412 (a lost update), ... and :func:`send_command` raises that status as
:class:`~tailor.errors.CommandRefused` with the service's ``detail``; any other failure is the
usual 502/504. The body the client sent is read with :func:`decode_body` (415, 400 naming
what is wrong).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Generic, TypeVar

import msgspec

from tailor.errors import (
    BadRequest,
    CommandRefused,
    UnsupportedMediaType,
    UpstreamStatusError,
)
from tailor.http import Request

T = TypeVar("T")
B = TypeVar("B")

#: A service's answers to a command that are the caller's doing, relayed as they are.
RELAYED = frozenset({400, 403, 404, 409, 412, 422, 428})
MAX_DETAIL = 300

_encode = msgspec.json.Encoder().encode


class _Problem(msgspec.Struct):
    detail: str = ""


_problem = msgspec.json.Decoder(_Problem)


class Answer(msgspec.Struct, Generic[T]):
    """What the service answered: its decoded body, status and version ETag (if any)."""

    value: T
    status: int
    etag: str | None


def decode_body(request: Request, into: type[B]) -> B:
    """The request's JSON body as ``into`` (a msgspec Struct).

    >>> class Like(msgspec.Struct):
    ...     title: str
    >>> r = Request("POST", "/x", "", {"content-type": "application/json"}, "127.0.0.1",
    ...             body=b'{"title": "Mix"}')
    >>> decode_body(r, Like)
    Like(title='Mix')
    """
    if not request.headers.get("content-type", "").startswith("application/json"):
        raise UnsupportedMediaType("send the body as application/json")
    try:
        return msgspec.json.decode(request.body, type=into)
    except msgspec.ValidationError as exc:
        raise BadRequest(f"invalid body: {exc}") from exc
    except msgspec.DecodeError as exc:
        raise BadRequest("the body is not valid JSON") from exc


async def send_command(
    request: Request,
    upstream: str,
    path: str,
    into: type[T],
    *,
    method: str = "POST",
    body: Any = None,
    headers: Sequence[tuple[str, str]] = (),
) -> Answer[T]:
    """Send the caller's command to ``upstream`` (as the caller: the internal token is about
    the request's principal) and decode a 2xx answer into ``into``."""
    client = request.upstreams
    assert client is not None, "the handler stage sets request.upstreams"
    response = await client.request(
        upstream,
        path,
        method=method,
        body=None if body is None else _encode(body),
        headers=headers,
        request_id=request.request_id,
        principal=request.principal,
        allowance=request.allowance,
        trace=request.trace,
        into=into,
    )
    status = response.status
    if status in RELAYED:
        error = response.error
        # Over gRPC the refusal's text is the status message; over HTTP, the problem's detail.
        text = error.message if isinstance(error, UpstreamStatusError) else None
        raise CommandRefused(status, _detail(response.body, status, text))
    if not 200 <= status < 300:
        raise response.error or UpstreamStatusError(upstream, status)
    return Answer(client.decode(upstream, response, into), status, response.headers.get("etag"))


def _detail(body: bytes, status: int, text: str | None = None) -> str:
    if text is not None:
        detail = text
    else:
        try:
            detail = _problem.decode(body).detail
        except msgspec.DecodeError:
            detail = ""
    return detail[:MAX_DETAIL] or f"the command was refused ({status})"
