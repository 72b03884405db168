"""The world the fault scenarios run in: scripted services behind one fault proxy each, and a
BFF serving the real mobile home plan (``waveform.bffs.mobile.app.HOME``) with the mobile
profile's resilience settings, in-process, over the real default transport (in-loop HTTP/1.1).

The services and proxies run on an event loop of their own, in a thread, so the load they carry
does not delay the BFF's loop: a latency the BFF measures is its own.

With ``WAVEFORM_UPSTREAMS=grpc`` (the demo's wire; ``make test`` reruns the part of the suite
that faults them), users and catalog speak gRPC: the same data, served by waveform's gRPC API
from their JSON routes (:func:`waveform.services.grpc_api.start_grpc`), each behind a
:class:`grpcfaultproxy.GrpcFaultProxy`, and the BFF calls them over ``grpc://``. With
``WAVEFORM_UPSTREAMS=connect`` (rerun by ``make test`` too) they speak the
Connect protocol with protobuf: waveform's Connect API
(:func:`waveform.services.grpc_api.connect_api`) in front of the same routes, served by uvicorn
over HTTP/1.1, so the HTTP :class:`faultproxy.FaultProxy` sits in front of each, and the BFF
calls them over ``connect://``.

Every response a scenario sees is judged by :func:`judge`: *correct* (the complete home, byte
for byte the healthy baseline), *partial* (a 200 marked degraded whose caller card is right and
which invents nothing: every card in it is in the baseline), *error* (a 502/503/504
problem+json), or *incorrect*; and it must arrive inside the deadline (:data:`DEADLINE_S` plus
:data:`MARGIN_S`) whatever it is.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import threading
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

import uvicorn
from aiohttp import web
from faultproxy import FaultProxy
from grpcfaultproxy import GrpcFaultProxy
from starlette.applications import Starlette
from starlette.requests import Request as StarletteRequest
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from tailor import BFF, Request, Response, aggregate, build_config
from tailor.config import deep_merge
from waveform.bffs.mobile.app import HOME, PROFILE, shape_home
from waveform.bffs.upstreams import grpc_settings
from waveform.services.grpc_api import connect_api, start_grpc
from waveform.supervisor import UPSTREAMS_ENV, free_ports

UPSTREAMS = ("users", "stream", "recommendations", "playlists", "catalog")
DEADLINE_S = HOME.deadline_s
MARGIN_S = 0.1  # scheduling slack on a loaded 2-core machine; the engine's own margin is 0.05
USERS = ("u1", "u2", "u3")
#: The upstreams that speak gRPC in gRPC mode (the services with a proto).
GRPC_UPSTREAMS = ("users", "catalog")


def grpc_mode() -> bool:
    """Whether users and catalog speak gRPC in this run (``WAVEFORM_UPSTREAMS=grpc``)."""
    return os.environ.get(UPSTREAMS_ENV) == "grpc"


def connect_mode() -> bool:
    """Whether users and catalog speak the Connect protocol in this run
    (``WAVEFORM_UPSTREAMS=connect``)."""
    return os.environ.get(UPSTREAMS_ENV) == "connect"


T = TypeVar("T")


def _user(uid: str) -> dict[str, Any]:
    return {
        "id": uid,
        "username": f"user-{uid}",
        "display_name": f"User {uid}",
        "avatar_url": f"https://cdn.example/{uid}.jpg",
        "country": "DE",
    }


def _track(tid: str) -> dict[str, Any]:
    return {
        "id": tid,
        "title": f"Track {tid}",
        "owner_id": f"o{int(tid[1:]) % 3}",
        "duration_ms": 180_000,
        "artwork_url": f"https://cdn.example/{tid}.jpg",
        "media": {"stream_url": f"https://media.example/{tid}"},
    }


def _ids(query: Any) -> list[str]:
    return [i for i in query.get("ids", "").split(",") if i]


def world_app() -> web.Application:
    """Five services in one aiohttp app (each reached through its own proxy)."""

    async def user(request: web.Request) -> web.Response:
        return web.json_response(_user(request.match_info["uid"]))

    async def users(request: web.Request) -> web.Response:
        return web.json_response({"items": [_user(i) for i in _ids(request.query)]})

    async def stream(request: web.Request) -> web.Response:
        uid = request.match_info["uid"]
        items = [
            {
                "id": f"{uid}-s{n}",
                "type": "track",
                "actor_id": f"o{n % 3}",
                "track_id": f"t{n}",
                "created_at": f"2026-01-0{n}T00:00:00Z",
            }
            for n in range(1, 6)
        ]
        return web.json_response({"items": items, "next_cursor": "c2"})

    async def recommendations(request: web.Request) -> web.Response:
        return web.json_response({"items": [{"track_id": f"t{n}"} for n in (6, 7, 8)]})

    async def playlists(request: web.Request) -> web.Response:
        owner = request.query["owner"]
        item = {"id": f"{owner}-p1", "title": "Mix", "owner_id": owner, "track_ids": ["t1"]}
        return web.json_response({"items": [item]})

    async def catalog(request: web.Request) -> web.Response:
        return web.json_response({"items": [_track(i) for i in _ids(request.query)]})

    app = web.Application()
    app.router.add_get("/users/{uid}", user)
    app.router.add_get("/users", users)
    app.router.add_get("/stream/{uid}", stream)
    app.router.add_get("/recommendations/{uid}", recommendations)
    app.router.add_get("/playlists", playlists)
    app.router.add_get("/catalog/tracks", catalog)
    return app


def grpc_world_app() -> Starlette:
    """Users and catalog as ASGI routes, for waveform's gRPC API to answer calls from (the
    same data as :func:`world_app`'s)."""

    async def user(request: StarletteRequest) -> JSONResponse:
        return JSONResponse(_user(request.path_params["uid"]))

    async def users(request: StarletteRequest) -> JSONResponse:
        return JSONResponse({"items": [_user(i) for i in _ids(request.query_params)]})

    async def catalog(request: StarletteRequest) -> JSONResponse:
        return JSONResponse({"items": [_track(i) for i in _ids(request.query_params)]})

    return Starlette(
        routes=[
            Route("/users/{uid}", user),
            Route("/users", users),
            Route("/catalog/tracks", catalog),
        ]
    )


@dataclass
class Seen:
    """One client request as the scenario saw it."""

    user: str
    status: int
    elapsed_s: float
    verdict: str
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def stale(self) -> bool:
        return any(d.get("stale") for d in (self.body or {}).get("degraded", []))


class UpstreamSide:
    """The services and their proxies, on their own event loop in a thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self.runner: web.AppRunner | None = None
        self.proxies: dict[str, FaultProxy | GrpcFaultProxy] = {}
        self.grpc_servers: list[Any] = []
        self.connect_server: uvicorn.Server | None = None
        self.connect_task: asyncio.Task[None] | None = None
        #: The path of every request the Connect server answered (connect mode).
        self.connect_paths: list[str] = []

    async def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the upstream loop and wait for it without blocking this one."""
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self.loop))

    async def start(self) -> None:
        async def start_all() -> None:
            self.runner = web.AppRunner(world_app(), access_log=None)
            await self.runner.setup()
            site = web.TCPSite(self.runner, "127.0.0.1", 0)
            await site.start()
            target = f"http://127.0.0.1:{self.runner.addresses[0][1]}"
            grpc_app = grpc_world_app()
            connect_target = await self._serve_connect(grpc_app) if connect_mode() else ""
            for name in UPSTREAMS:
                if grpc_mode() and name in GRPC_UPSTREAMS:
                    (port,) = free_ports(1)
                    self.grpc_servers.append(await start_grpc(grpc_app, name, "127.0.0.1", port))
                    self.proxies[name] = await GrpcFaultProxy.start(f"127.0.0.1:{port}")
                elif connect_mode() and name in GRPC_UPSTREAMS:
                    self.proxies[name] = await FaultProxy.start(connect_target)
                else:
                    self.proxies[name] = await FaultProxy.start(target)

        await self.run(start_all())

    async def _serve_connect(self, routes: Starlette) -> str:
        """Users' and catalog's Connect API over ``routes`` on uvicorn (a port of its own);
        its base URL."""
        app = connect_api(connect_api(routes, "users"), "catalog")

        async def counted(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http":
                self.connect_paths.append(scope["path"])
            await app(scope, receive, send)

        # Listening before uvicorn serves: a connection made meanwhile waits in the backlog,
        # so there is nothing to wait for here.
        sock = socket.create_server(("127.0.0.1", 0))
        config = uvicorn.Config(counted, lifespan="off", log_level="warning", access_log=False)
        self.connect_server = uvicorn.Server(config)
        self.connect_task = asyncio.ensure_future(self.connect_server.serve(sockets=[sock]))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"

    def url(self, name: str) -> str:
        """Where the BFF calls ``name``: its proxy, over the run's wire."""
        url = self.proxies[name].url
        if connect_mode() and name in GRPC_UPSTREAMS:
            return url.replace("http://", "connect://", 1)
        return url

    async def close(self) -> None:
        async def close_all() -> None:
            for proxy in self.proxies.values():
                await proxy.close()
            for server in self.grpc_servers:
                await server.stop(0)
            if self.connect_server is not None and self.connect_task is not None:
                self.connect_server.should_exit = True
                await self.connect_task
            if self.runner is not None:
                await self.runner.cleanup()

        await self.run(close_all())
        self.loop.call_soon_threadsafe(self.loop.stop)
        await asyncio.to_thread(self._thread.join, 5)
        self.loop.close()


@dataclass
class World:
    bff: BFF
    upstream_side: UpstreamSide
    baseline: dict[str, bytes] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)

    @property
    def proxies(self) -> dict[str, FaultProxy | GrpcFaultProxy]:
        return self.upstream_side.proxies

    async def refuse(self, upstream: str) -> None:
        await self.upstream_side.run(self.proxies[upstream].refuse())

    async def accept(self, upstream: str) -> None:
        await self.upstream_side.run(self.proxies[upstream].accept())

    async def home(self, user: str = "u1") -> Seen:
        """GET the home screen through the whole pipeline and judge the answer."""
        request = Request("GET", f"/home/{user}", "", {"host": "bff.test"}, "127.0.0.1")
        started = time.perf_counter()
        response = await self.bff.handle(request)
        elapsed = time.perf_counter() - started
        seen = judge(user, response, elapsed, self.baseline.get(user))
        self.seen.append(seen)
        return seen

    async def learn_baseline(self) -> None:
        """With every service healthy: the complete home of each user (and the last-known-good
        values the mobile profile keeps)."""
        for user in USERS:
            seen = await self.home(user)
            assert seen.status == 200 and "tailor-degraded" not in seen.headers, seen
            self.baseline[user] = json.dumps(seen.body, sort_keys=True).encode()
        self.seen.clear()

    def attempts(self, upstream: str) -> int:
        return self.proxies[upstream].attempts

    def metric(self, name: str, **labels: str) -> float:
        value = self.bff.metrics.registry.get_sample_value(name, labels)
        return value or 0.0

    def verdicts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for seen in self.seen:
            counts[seen.verdict] = counts.get(seen.verdict, 0) + 1
        return counts

    def assert_all_acceptable(self) -> None:
        """Every response correct, a marked partial, or a documented 502/503/504, in time."""
        bad = [s for s in self.seen if s.verdict not in ("correct", "partial", "error")]
        assert not bad, bad[:3]
        late = [s for s in self.seen if s.elapsed_s > DEADLINE_S + MARGIN_S]
        assert not late, late[:3]

    async def close(self) -> None:
        await self.bff.shutdown()
        await self.upstream_side.close()


async def start_world(resilience: dict[str, Any] | None = None) -> World:
    side = UpstreamSide()
    await side.start()
    settings = deep_merge(PROFILE["resilience"], resilience or {})
    config = build_config(
        {
            "name": "faults",
            "admin": {"enabled": False},
            "upstreams": {name: side.url(name) for name in side.proxies},
            "resilience": settings,
            **({"grpc": grpc_settings()} if grpc_mode() or connect_mode() else {}),
        }
    )
    bff = BFF(config)  # the real default transport, wrapped by the resilient one

    @bff.get("/home/{user}", auth=False, plan=HOME)
    async def home(request: Request) -> Response:
        return await aggregate(request, shape_home, user_id=request.path_params["user"])

    bff.startup(admin=False)
    return World(bff, side)


def judge(user: str, response: Response, elapsed: float, baseline: bytes | None) -> Seen:
    headers = dict(response.headers)
    try:
        body = json.loads(response.body)
    except ValueError:
        return Seen(user, response.status, elapsed, "incorrect", None, headers)
    verdict = "incorrect"
    if response.status in (502, 503, 504):
        if headers.get("content-type") == "application/problem+json":
            verdict = "error"
    elif response.status == 200 and baseline is None:
        verdict = "correct"  # learning the baseline
    elif response.status == 200:
        expected = json.loads(baseline)
        if "tailor-degraded" not in headers:
            verdict = "correct" if body == expected else "incorrect"
        elif body.get("degraded") and _subset_of(body, expected):
            verdict = "partial"
    return Seen(user, response.status, elapsed, verdict, body, headers)


#: The cards' fields the ``people`` part fills (user cards): null when it is lost.
PEOPLE_FIELDS = frozenset({"actor", "owner"})


def _subset_of(body: dict[str, Any], expected: dict[str, Any]) -> bool:
    """A partial answer is right about the caller and invents nothing. With the ``people``
    part lost, a card's people are null (the home names nobody it could not look up): such a
    card is judged against the baseline's with its people left out too."""
    if body.get("me") != expected["me"]:
        return False
    people_lost = any(d.get("part") == "people" for d in body.get("degraded", []))
    cards = (
        ("stream", lambda b: b["stream"]["items"]),
        ("recommendations", lambda b: b["recommendations"]),
        ("playlists", lambda b: b["playlists"]),
    )
    for _, pick in cards:
        known = {json.dumps(c, sort_keys=True) for c in pick(expected)}
        anonymous = {json.dumps(_without_people(c), sort_keys=True) for c in pick(expected)}
        for card in pick(body):
            if json.dumps(card, sort_keys=True) in known:
                continue
            stripped = _without_people(card)
            if not (people_lost and _nulls_only(card, stripped)):
                return False
            if json.dumps(stripped, sort_keys=True) not in anonymous:
                return False
    return True


def _without_people(value: Any) -> Any:
    """``value`` with every people field (:data:`PEOPLE_FIELDS`) null, at any depth."""
    if isinstance(value, dict):
        return {k: None if k in PEOPLE_FIELDS else _without_people(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_people(v) for v in value]
    return value


def _nulls_only(card: Any, stripped: Any) -> bool:
    """Whether nulling the people fields changed nothing: they were all null already."""
    return bool(card == stripped)
