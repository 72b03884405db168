"""A gate: a real HTTP proxy on 127.0.0.1, on a loop of its own in a thread, that holds the
requests whose path ends with ``hold`` until the test opens it, so a command stays in flight
for exactly as long as the test needs (no sleep stands in for the timing)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import aiohttp
from aiohttp import web

WAIT_S = 10.0
_HOP = frozenset({"host", "content-length", "transfer-encoding", "connection"})


class Gate:
    def __init__(self, target: str, hold: str) -> None:
        self.target = target.rstrip("/")
        self.hold = hold
        self.arrived = threading.Event()  # a held request reached the gate
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._open: asyncio.Event | None = None
        self._session: aiohttp.ClientSession | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def open(self) -> None:
        """Let the held requests (and every later one) through."""
        assert self._open is not None
        self._loop.call_soon_threadsafe(self._open.set)

    async def _handle(self, request: web.Request) -> web.Response:
        assert self._open is not None and self._session is not None
        body = await request.read()
        if request.path.endswith(self.hold):
            self.arrived.set()
            await asyncio.wait_for(self._open.wait(), WAIT_S)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP}
        async with self._session.request(
            request.method, self.target + request.path_qs, data=body, headers=headers
        ) as answer:
            raw = await answer.read()
            kept = {k: v for k, v in answer.headers.items() if k.lower() not in _HOP}
            return web.Response(status=answer.status, body=raw, headers=kept)

    async def _start(self) -> web.AppRunner:
        self._open = asyncio.Event()
        self._session = aiohttp.ClientSession(auto_decompress=False)
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self.port = runner.addresses[0][1]
        return runner

    async def _stop(self, runner: web.AppRunner) -> None:
        assert self._session is not None
        await self._session.close()
        await runner.cleanup()


@contextmanager
def gate(target: str, hold: str) -> Iterator[Gate]:
    """A running :class:`Gate` in front of ``target``."""
    made = Gate(target, hold)
    thread = threading.Thread(target=made._loop.run_forever, name="gate", daemon=True)
    thread.start()
    runner = asyncio.run_coroutine_threadsafe(made._start(), made._loop).result(WAIT_S)
    try:
        yield made
    finally:
        made.open()
        asyncio.run_coroutine_threadsafe(made._stop(runner), made._loop).result(WAIT_S)
        made._loop.call_soon_threadsafe(made._loop.stop)
        thread.join(WAIT_S)
        made._loop.close()
