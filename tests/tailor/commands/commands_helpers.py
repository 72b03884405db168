"""Helpers for the command tests: a BFF with the idempotency stage and a counting command,
and one request sent as a signed-in caller (the principal set as authenticate would)."""

from __future__ import annotations

import asyncio
from typing import Any

from tailor import BFF, Request, Response, json_response
from tailor.auth.principal import Principal


class Commands:
    """A command route that counts its runs; ``gate`` (when set) holds it in flight."""

    def __init__(self, bff: BFF, status: int = 201, body_size: int = 0) -> None:
        self.runs = 0
        self.padding = "x" * body_size
        self.status = status
        self.gate: asyncio.Event | None = None
        self.entered = asyncio.Event()
        bff.post("/likes", auth=False)(self.like)
        bff.route("PATCH", "/likes", auth=False)(self.like)

    async def like(self, request: Request) -> Response:
        self.runs += 1
        self.entered.set()
        if self.gate is not None:
            await self.gate.wait()
        if self.padding:
            return json_response({"run": self.runs, "pad": self.padding}, status=self.status)
        return json_response({"run": self.runs}, status=self.status)


def keyed_bff(make_bff: Any, **settings: Any) -> tuple[BFF, Commands]:
    bff: BFF = make_bff({"commands": {"idempotency": settings}})
    return bff, Commands(bff)


async def send(
    bff: BFF,
    *,
    key: str | None = "k1",
    body: bytes = b'{"track_id": "t1"}',
    user: str = "u1",
    method: str = "POST",
    path: str = "/likes",
    accept_encoding: str | None = None,
) -> Response:
    bff.startup(admin=False)
    headers = {"host": "bff.test", "content-type": "application/json"}
    if accept_encoding is not None:
        headers["accept-encoding"] = accept_encoding
    if key is not None:
        headers["idempotency-key"] = f'"{key}"'
    request = Request(method, path, "", headers, "203.0.113.7", body=body)
    request.principal = Principal(user)
    return await bff.handle(request)
