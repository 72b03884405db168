"""A scripted upstream: a real aiohttp server on 127.0.0.1, on an ephemeral port.

Each route answers with a configurable status, JSON (or raw, possibly malformed) body and
delay, and every request is recorded with its headers and its arrival and finish times, so a
test can prove what reached the service, when, and how many calls overlapped.

    up = await ScriptedUpstream.start()
    up.script("GET", "/users/u1", json={"id": "u1"}, delay=0.1)
    ...
    assert up.received("/users/u1")[0].headers["x-request-id"] == rid
"""

from __future__ import annotations

import asyncio
import json as jsonlib
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Script:
    """How one route answers."""

    status: int = 200
    json: Any = None
    body: bytes | None = None  # raw bytes win over ``json`` (for malformed bodies)
    delay: float = 0.0  # simulates a slow service
    content_type: str = "application/json"
    gate: asyncio.Event | None = None  # answer only once this is set
    headers: dict[str, str] = field(default_factory=dict)  # extra response headers


@dataclass
class Received:
    """One request as the upstream saw it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    started: float  # time.monotonic() at arrival
    finished: float | None = None
    cancelled: bool = False
    done: asyncio.Event = field(default_factory=asyncio.Event)  # set when the handler ends
    body: bytes = b""


@dataclass
class ScriptedUpstream:
    runner: web.AppRunner
    port: int
    scripts: dict[tuple[str, str], Script | Callable[[Received], Script]] = field(
        default_factory=dict
    )
    requests: list[Received] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    arrived: asyncio.Condition = field(default_factory=asyncio.Condition)

    @classmethod
    async def start(cls) -> ScriptedUpstream:
        app = web.Application()
        runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
        holder: dict[str, ScriptedUpstream] = {}

        async def handle(request: web.Request) -> web.StreamResponse:
            return await holder["self"]._answer(request)

        app.router.add_route("*", "/{tail:.*}", handle)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        self = cls(runner, port)
        holder["self"] = self
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def script(
        self,
        method: str,
        path: str,
        script: Script | Callable[[Received], Script] | None = None,
        **options: Any,
    ) -> None:
        """Set how ``method path`` answers; ``options`` are :class:`Script` fields."""
        self.scripts[(method.upper(), path)] = script if script is not None else Script(**options)

    def received(self, path: str | None = None) -> list[Received]:
        return [r for r in self.requests if path is None or r.path == path]

    async def wait_for_requests(self, count: int, within_s: float = 5.0) -> None:
        """Wait (bounded) until ``count`` requests have arrived."""
        async with asyncio.timeout(within_s), self.arrived:
            await self.arrived.wait_for(lambda: len(self.requests) >= count)

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        seen = Received(
            request.method,
            request.path,
            dict(request.query),
            {k.lower(): v for k, v in request.headers.items()},
            time.monotonic(),
            body=await request.read(),
        )
        self.requests.append(seen)
        async with self.arrived:
            self.arrived.notify_all()
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            found = self.scripts.get((request.method, request.path))
            if found is None:
                found = Script(404, json={"error": "no script"})
            script = found(seen) if callable(found) else found
            if script.delay:
                await asyncio.sleep(script.delay)
            if script.gate is not None:
                await script.gate.wait()
            if script.body is not None:
                body = script.body
            else:
                body = jsonlib.dumps(script.json if script.json is not None else {}).encode()
            return web.Response(
                status=script.status,
                body=body,
                headers={"content-type": script.content_type, **script.headers},
            )
        except asyncio.CancelledError:
            seen.cancelled = True
            raise
        finally:
            self.in_flight -= 1
            seen.finished = time.monotonic()
            seen.done.set()

    async def close(self) -> None:
        await self.runner.cleanup()


def closed_port() -> int:
    """A port on 127.0.0.1 with nothing listening (bound once, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
