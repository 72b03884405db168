"""ASGI entry point, for uvicorn, hypercorn or granian's ASGI interface."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from tailor.http import Request

if TYPE_CHECKING:
    from tailor.app import BFF


_BLANK_SERVER = (b"server", b"")


async def serve(bff: BFF, scope: dict[str, Any], receive: Any, send: Any) -> None:
    kind = scope["type"]
    if kind == "lifespan":
        await _lifespan(bff, receive, send)
        return
    if kind != "http":
        return
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope["headers"]:
        name = raw_name.decode("latin-1").lower()
        value = raw_value.decode("latin-1")
        headers[name] = f"{headers[name]}, {value}" if name in headers else value

    async def read_body() -> AsyncIterator[bytes]:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            if chunk:
                yield chunk
            if not message.get("more_body", False):
                return

    client = scope.get("client")
    request = Request(
        scope["method"],
        scope["path"],
        scope.get("query_string", b"").decode("latin-1"),
        headers,
        client[0] if client else "",
        scheme=scope.get("scheme", "http"),
        read_body=read_body,
    )
    tls = (scope.get("extensions") or {}).get("tls")
    if tls:
        _take_client_certificate(request, tls)
    response = await bff.handle(request)
    # As in rsgi: granian's ASGI interface inserts "server: granian" unless the app sends its
    # own, so send it empty (uvicorn and hypercorn need their own --no-server-header flag).
    raw = [(n.encode("latin-1"), v.encode("latin-1")) for n, v in response.headers]
    raw.append(_BLANK_SERVER)
    await send({"type": "http.response.start", "status": response.status, "headers": raw})
    await send({"type": "http.response.body", "body": response.body})


async def _lifespan(bff: BFF, receive: Any, send: Any) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            try:
                bff.startup()
            except Exception as exc:  # startup errors (bad config) are reported to the server
                await send({"type": "lifespan.startup.failed", "message": str(exc)})
                return
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await bff.shutdown()
            await send({"type": "lifespan.shutdown.complete"})
            return


def _take_client_certificate(request: Request, tls: dict[str, Any]) -> None:
    """The verified leaf of the ASGI TLS extension's chain, as DER, for the mTLS
    authenticator. Set by the server from the handshake, never from a header."""
    chain = tls.get("client_cert_chain") or ()
    if not chain:
        return
    try:
        request.client_cert = ssl.PEM_cert_to_DER_cert(chain[0])
    except (ValueError, TypeError):
        request.client_cert = b"unparsable"  # refused as 401, not a 500
