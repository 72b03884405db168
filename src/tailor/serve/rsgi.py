"""RSGI (granian) entry point: the fastest path, with no per-request dict building beyond the
headers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from tailor.http import Request

if TYPE_CHECKING:
    from tailor.app import BFF


async def serve(bff: BFF, scope: Any, protocol: Any) -> None:
    if scope.proto != "http":  # websockets are not part of a BFF's surface
        return
    headers: dict[str, str] = {}
    for name, value in scope.headers.items():
        if name in headers:
            headers[name] = f"{headers[name]}, {value}"
        else:
            headers[name] = value

    def read_body() -> AsyncIterator[bytes]:
        return protocol.__aiter__()  # type: ignore[no-any-return]

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
    protocol.response_bytes(response.status, response.headers, response.body)
