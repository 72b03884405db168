"""A fault proxy: a real HTTP proxy on 127.0.0.1 between a BFF and one upstream, whose
behaviour a test switches at runtime.

    proxy = await FaultProxy.start(upstream.url)
    proxy.set(Fault("latency", delay_s=0.8))     # every request waits 800 ms, then passes
    proxy.set(Fault("status", status=503))        # answered here, never reaches the upstream
    proxy.set(Fault("reset"))                     # TCP RST instead of an answer
    await proxy.refuse()                          # stop listening: connections are refused
    proxy.set(Fault("truncate"))                  # half the body, then the connection drops
    proxy.set(Fault("drip", chunk=64, interval_s=0.05))  # the body, slowly
    proxy.set(Fault())                            # healthy again

``ratio`` applies a fault to that fraction of requests only (seeded, so runs repeat). Every
request that reaches the proxy is counted (``attempts``) and timed (``arrivals``, on
``time.perf_counter``): that is what the upstream would see, which is how retry amplification is
measured, per second.
"""

from __future__ import annotations

import asyncio
import random
import socket
import struct
import time
from dataclasses import dataclass

import aiohttp
from aiohttp import web

_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "transfer-encoding",
        "content-length",
        "host",
        "content-encoding",
        "te",
        "trailer",
        "upgrade",
        "proxy-connection",
    }
)


@dataclass(frozen=True)
class Fault:
    """What the proxy does to a request. ``kind``: pass, latency, status, reset, truncate,
    drip. ``delay_s`` is added before any kind (latency is just a delay that then passes)."""

    kind: str = "pass"
    delay_s: float = 0.0
    status: int = 503
    chunk: int = 64
    interval_s: float = 0.05
    ratio: float = 1.0


class FaultProxy:
    def __init__(self, target: str) -> None:
        self.target = target.rstrip("/")
        self.fault = Fault()
        self.attempts = 0
        self.arrivals: list[float] = []
        self.faulted = 0
        self.port = 0
        self._rng = random.Random(7)
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    async def start(cls, target: str) -> FaultProxy:
        self = cls(target)
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0), auto_decompress=False
        )
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
        await self._runner.setup()
        self._site = web.TCPSite(self._runner, "127.0.0.1", 0, reuse_address=True)
        await self._site.start()
        self.port = self._runner.addresses[0][1]
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def set(self, fault: Fault) -> None:
        self.fault = fault

    def reset_counts(self) -> None:
        self.attempts = 0
        self.arrivals = []
        self.faulted = 0

    async def refuse(self) -> None:
        """Stop listening: new connections are refused, pooled ones are reset on next use."""
        self.fault = Fault("reset")
        if self._site is not None:
            await self._site.stop()
            self._site = None

    async def accept(self) -> None:
        """Listen again, on the same port, and pass requests through."""
        self.fault = Fault()
        if self._site is None and self._runner is not None:
            self._site = web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True)
            await self._site.start()

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    # -- the proxy itself --------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.attempts += 1
        self.arrivals.append(time.perf_counter())
        fault = self.fault
        if fault.ratio < 1.0 and self._rng.random() >= fault.ratio:
            fault = Fault()
        if fault.kind != "pass":
            self.faulted += 1
        if fault.delay_s:
            await asyncio.sleep(fault.delay_s)
        if fault.kind == "status":
            body = b'{"status": %d, "title": "injected"}' % fault.status
            return web.Response(
                status=fault.status, body=body, content_type="application/problem+json"
            )
        if fault.kind == "reset":
            _reset(request)
            return web.Response()  # never sent: the connection is gone
        status, headers, body = await self._forward(request)
        if fault.kind == "truncate":
            response = web.StreamResponse(status=status, headers=headers)
            response.content_length = len(body)
            await response.prepare(request)
            await response.write(body[: len(body) // 2])
            _reset(request)
            return response
        if fault.kind == "drip":
            response = web.StreamResponse(status=status, headers=headers)
            response.content_length = len(body)
            await response.prepare(request)
            for start in range(0, len(body), fault.chunk):
                await response.write(body[start : start + fault.chunk])
                await asyncio.sleep(fault.interval_s)
            await response.write_eof()
            return response
        return web.Response(status=status, body=body, headers=headers)

    async def _forward(self, request: web.Request) -> tuple[int, dict[str, str], bytes]:
        assert self._session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP}
        data = await request.read()
        async with self._session.request(
            request.method,
            f"{self.target}{request.path_qs}",
            headers=headers,
            data=data or None,
            allow_redirects=False,
        ) as upstream:
            body = await upstream.read()
            out = {k: v for k, v in upstream.headers.items() if k.lower() not in _HOP}
            return upstream.status, out, body


def _reset(request: web.Request) -> None:
    """Close the client's connection with a TCP RST (SO_LINGER 0), not a polite FIN."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
