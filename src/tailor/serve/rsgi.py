"""RSGI (granian) entry point: the fastest path, with no per-request dict building beyond the
headers."""

from __future__ import annotations

from collections.abc import AsyncIterable
from typing import TYPE_CHECKING, Any

from tailor.http import Request

if TYPE_CHECKING:
    from tailor.app import BFF


_BLANK_SERVER = ("server", "")


async def serve(bff: BFF, scope: Any, protocol: Any) -> None:
    if scope.proto != "http":  # websockets are not part of a BFF's surface
        return
    items = scope.headers.items()
    headers = dict(items)  # built in C; names are lower-case already
    if len(headers) != len(items):
        headers = _joined(items)  # a repeated field: every value, not only the last

    def read_body() -> AsyncIterable[bytes]:
        # The protocol object is the iterable; granian refuses a second __aiter__ call.
        return protocol  # type: ignore[no-any-return]

    client = scope.client
    request = Request(
        scope.method,
        scope.path,
        scope.query_string,
        headers,
        client.rsplit(":", 1)[0] if client else "",
        scheme=scope.scheme,
        read_body=read_body,
    )
    response = await bff.handle(request)
    # granian inserts "server: granian" unless the app sends its own; it cannot be left out
    # (granian issue #594), so send it empty: non-informative, as OWASP recommends.
    response.headers.append(_BLANK_SERVER)
    protocol.response_bytes(response.status, response.headers, response.body)


def _joined(items: list[tuple[str, str]]) -> dict[str, str]:
    """Repeated fields as one comma-separated value, in order (RFC 9110 s5.3)."""
    headers: dict[str, str] = {}
    for name, value in items:
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return headers
