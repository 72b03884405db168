"""Live endpoints on a BFF: a WebSocket route and an event-stream route, fed by the BFF's
:class:`Feed` through one :class:`~tailor.live.hub.Hub` per worker.

What happens to a live request, in order:

1. the ``live`` stage (before ``sanitize``, which drops the handshake's hop-by-hop fields):
   a credential in the query string is refused (400; only ``since`` is accepted), a
   WebSocket handshake is checked (426 when it is not one, 400 when malformed), a
   ``bearer.<token>`` offered in ``Sec-WebSocket-Protocol`` becomes the request's
   ``Authorization`` (browsers cannot set that field on a WebSocket), and a worker at its
   live cap refuses (503 + Retry-After), all before authentication is paid for;
2. the pipeline as for any route: authentication, entitlements, rate limits;
3. the route: a session cookie needs a same-origin ``Origin`` (cross-site WebSocket hijacking
   is a 403), the caller's per-user and per-address caps (429 + Retry-After), the feed's
   topics for the caller; then the answer hands the connection over
   (:mod:`tailor.serve.handover`) and events flow, after the missed ones are replayed when
   the client resumes (``Last-Event-ID``, or ``?since=``).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import random
from collections import Counter
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol

from tailor.auth.jwt import BearerJWTAuthenticator
from tailor.auth.principal import Principal
from tailor.chain import Chain, Outcome, then
from tailor.extras import Extra, require
from tailor.http import Request, Response
from tailor.live.connection import POLICY_VIOLATION, LiveConnection
from tailor.live.hub import Event, Hub
from tailor.live.metrics import LiveCollector
from tailor.live.settings import LiveSettings
from tailor.live.sse import HEADERS as SSE_HEADERS
from tailor.live.sse import EventStreamConnection
from tailor.problem import problem_response
from tailor.serve.handover import Handover

if TYPE_CHECKING:
    from tailor.app import BFF
    from tailor.auth.jwt import JWTVerifier
    from tailor.auth.session import SessionManager
    from tailor.pipeline import BuildContext
    from tailor.serve.http1 import Http1Server

log = logging.getLogger("tailor.live")

#: The one query parameter a live URL takes: an event id to resume after (never a token).
SINCE = "since"
_MAX_ID = 64


class Feed(Protocol):
    """What a BFF supplies: who hears what, and the events themselves.

    ``start(hub)`` begins publishing into the hub (called once per worker, with the first
    connection); ``topics(request)`` are the topics of the authenticated caller (awaited in
    the request, so it may call upstreams as the caller); ``replay(after, limit)`` the
    events after the id ``after`` from the event log, or ``None`` when more than ``limit``
    (or an id the log no longer holds) were missed.
    """

    def start(self, hub: Hub) -> None: ...

    async def topics(self, request: Request) -> set[str]: ...

    async def replay(self, after: str, limit: int) -> list[Event] | None: ...


class Live:
    """The live routes of one BFF and their state in this worker.

    >>> from tailor import BFF, build_config
    >>> class Quiet:
    ...     def start(self, hub): pass
    ...     async def topics(self, request): return {"all"}
    ...     async def replay(self, after, limit): return []
    >>> session = {"allowed_origins": ["https://app.example"]}
    >>> bff = BFF(build_config({"name": "web", "auth": {"session": session}}))
    >>> live = Live(bff, Quiet(), websocket="/live", sse="/live/sse")
    >>> sorted(route.template for route in bff.router.routes)
    ['/live', '/live/sse']
    """

    name = "live"

    def __init__(
        self,
        bff: BFF,
        feed: Feed,
        *,
        websocket: str | None = "/live",
        sse: str | None = "/live/sse",
        subprotocol: str = "live.v1",
    ) -> None:
        self.feed = feed
        self.hub = Hub()
        self.settings = LiveSettings()
        self.subprotocol = subprotocol
        self._websocket = websocket
        self._paths = frozenset(p for p in (websocket, sse) if p)
        self._started = False
        self._sessions: SessionManager | None = None
        self._verifier: JWTVerifier | None = None
        self._per_user: Counter[str] = Counter()
        self._per_ip: Counter[str] = Counter()
        self._tasks: set[asyncio.Task[Any]] = set()
        # Counted for the admin port and the tests: what the limits did.
        self.connections = 0
        self.slow_consumers = 0
        self.dead_peers = 0
        self.gaps = 0
        self.refused: Counter[int] = Counter()
        # Not in the OpenAPI document: neither is request-response (docs/live.md is theirs).
        if websocket:
            # wsproto (tailor[live]) reads clients' frames: imported for a WebSocket route
            # only, so an event stream alone needs no extra and a missing one stops startup
            # naming it, not with an ImportError.
            require(Extra("stages.live", f"the WebSocket route {websocket}", "wsproto", "live"))
            from tailor.live.websocket import WebSocketConnection, accept_token

            self._ws_connection: Callable[..., LiveConnection] = WebSocketConnection
            self._accept_token: Callable[[str], str] = accept_token
            bff.get(websocket, response=None, documented=False)(self._open_websocket)
        if sse:
            bff.get(sse, response=None, documented=False)(self._open_event_stream)
        bff.add_stage(self, before="sanitize")

    # -- the stage (tailor.chain.StageFactory, and the stage it builds) ---------------------

    def build(self, ctx: BuildContext) -> Live:
        self.settings = ctx.stage_settings(self.name, LiveSettings)
        self.settings.check(ctx.config)
        ctx.metrics.registry.register(LiveCollector(self))
        verifiers = [
            a.verifier for a in ctx.authenticators if isinstance(a, BearerJWTAuthenticator)
        ]
        self._verifier = verifiers[0] if verifiers else None
        return self

    def wrap(self, next_handler: Chain) -> Chain:
        paths = self._paths

        def live(request: Request) -> Outcome:
            if request.path not in paths:
                return next_handler(request)
            sent = "authorization" in request.headers
            refusal = self._admit(request)
            if refusal is not None:
                return refusal
            token = None if sent else self._fresh_token(request)
            if token is None:
                return next_handler(request)
            return then(next_handler(request), self._forget, token)

        return live

    def _fresh_token(self, request: Request) -> str | None:
        """A bearer token from ``Sec-WebSocket-Protocol`` the verifier has not cached: it
        serves this one upgrade, and left in the cache it would cost every idle connection
        a cache entry (most of a connection's memory) for a verification saved once."""
        header = request.headers.get("authorization")
        if self._verifier is None or header is None:
            return None
        token = header.partition(" ")[2].strip()
        return token if token and self._verifier.cached(token) is None else None

    def _forget(self, response: Response, token: str) -> Response:
        assert self._verifier is not None  # only a fresh token gets here
        self._verifier.forget(token)
        return response

    def _admit(self, request: Request) -> Response | None:
        """What the live stage refuses before authentication (see the module doc)."""
        query = request.query
        if any(name != SINCE for name in query) or len(query.get(SINCE, "")) > _MAX_ID:
            return self._refuse(400, "a live URL takes only 'since' (an event id); send "
                                "credentials in a cookie or Sec-WebSocket-Protocol")  # fmt: skip
        if request.path == self._websocket:
            refusal = _check_handshake(request.headers)
            if refusal is not None:
                self.refused[refusal.status] += 1
                return refusal
            _promote_bearer(request.headers)
        if self.connections >= self.settings.max_per_worker:
            return self._refuse(503, "this worker holds all the live connections it may")
        return None

    def _refuse(self, status: int, detail: str) -> Response:
        self.refused[status] += 1
        retry = (("retry-after", str(self.settings.retry_after_s)),) if status >= 429 else ()
        return problem_response(status, detail, headers=retry)

    # -- the routes ------------------------------------------------------------------------

    async def _open_websocket(self, request: Request) -> Response:
        offered = _offered_protocols(request.headers)
        if offered and self.subprotocol not in offered:
            return self._refuse(400, f"offer the subprotocol {self.subprotocol}")
        key = request.headers["sec-websocket-key"]
        headers = [("sec-websocket-accept", self._accept_token(key))]
        if offered:
            headers.append(("sec-websocket-protocol", self.subprotocol))
        return await self._open(request, self._ws_connection, 101, headers, "websocket")

    async def _open_event_stream(self, request: Request) -> Response:
        if request.method == "HEAD":  # the head alone: nothing to hand over
            return Response(200, b"", list(SSE_HEADERS))
        return await self._open(request, EventStreamConnection, 200, list(SSE_HEADERS), "")

    async def _open(
        self,
        request: Request,
        kind: Callable[..., LiveConnection],
        status: int,
        headers: list[tuple[str, str]],
        upgrade: str,
    ) -> Response:
        principal = request.principal
        assert principal is not None  # the routes require authentication
        refusal = self._check_caller(request, principal, websocket=bool(upgrade))
        if refusal is not None:
            return refusal
        since = request.headers.get("last-event-id") or request.query.get(SINCE, "")
        if len(since) > _MAX_ID:
            return self._refuse(400, "Last-Event-ID is not an event id")
        topics = await self.feed.topics(request)
        if request.sessions is not None:
            self._sessions = request.sessions
        adopt = partial(
            self._adopt,
            kind,
            user=principal.subject,
            client=request.client,
            session_id=principal.session_id,
            expires_at=principal.expires_at,
            topics=topics,
            since=since,
        )
        return Handover(status, headers, adopt, upgrade=upgrade)

    def _check_caller(
        self, request: Request, principal: Principal, *, websocket: bool
    ) -> Response | None:
        if principal.credential == "session" and request.sessions is not None:
            # A browser sends the cookie with a page's WebSocket to any site, and a cross-site
            # page could read the socket (no CORS on WebSockets): the Origin must be ours. An
            # EventSource is CORS-checked, but one cross-site is refused all the same.
            cross = not request.sessions.same_origin(request)
            if cross and (websocket or "origin" in request.headers):
                return self._refuse(403, "a cross-site live connection is refused")
        if self._per_user[principal.subject] >= self.settings.max_per_user:
            return self._refuse(429, "too many live connections for this user")
        if self._per_ip[request.client] >= self.settings.max_per_ip:
            return self._refuse(429, "too many live connections from this address")
        return None

    def _adopt(
        self,
        kind: Callable[..., LiveConnection],
        transport: asyncio.Transport,
        tail: bytes,
        server: Http1Server,
        *,
        topics: set[str],
        since: str,
        **who: Any,
    ) -> LiveConnection:
        if not self._started:
            self._started = True
            self.feed.start(self.hub)
        connection = kind(self, transport, server, tail, resuming=bool(since), **who)
        self.connections += 1
        self._per_user[connection.user] += 1
        self._per_ip[connection.client] += 1
        self.hub.add(connection, topics)
        if since:
            self._spawn(self._replay(connection, since))
        return connection

    def detach(self, connection: LiveConnection) -> None:
        """``connection`` is gone: its place in the hub and in the caps is free."""
        self.hub.remove(connection)
        self.connections -= 1
        for counts, key in ((self._per_user, connection.user), (self._per_ip, connection.client)):
            counts[key] -= 1
            if counts[key] <= 0:
                del counts[key]

    # -- what connections ask of it --------------------------------------------------------

    async def _replay(self, connection: LiveConnection, since: str) -> None:
        try:
            events = await self.feed.replay(since, self.settings.resume_max_events)
        except Exception:
            log.warning("live: cannot replay after %s", since[:_MAX_ID], exc_info=True)
            events = None
        mine = set(connection.topics)
        user = connection.user
        if events is not None:
            events = [e for e in events if e.actor != user and not mine.isdisjoint(e.topics)]
        connection.replayed(events)

    def check_session(self, connection: LiveConnection) -> None:
        """Close ``connection`` (1008) if its session ended (elsewhere, or expired)."""
        if self._sessions is not None and connection.session_id:
            self._spawn(self._check(self._sessions, connection))

    async def _check(self, sessions: SessionManager, connection: LiveConnection) -> None:
        try:
            session = await sessions.load(connection.session_id)
        except Exception:  # the store is unreachable: not the client's fault; asked again later
            log.warning("live: cannot check a session", exc_info=True)
            return
        if session is None:
            connection.close(POLICY_VIOLATION, "session ended")

    def end_session(self, user: str, session_id: str) -> int:
        """A logout in this worker: close that session's live connections now (1008)."""
        closed = 0
        for subscriber in self.hub.of_user(user):
            if isinstance(subscriber, LiveConnection) and subscriber.session_id == session_id:
                subscriber.close(POLICY_VIOLATION, "session ended")
                closed += 1
        return closed

    def reconnect_ms(self) -> int:
        """A jittered reconnect delay: clients of a stopped worker come back spread out."""
        return random.randint(self.settings.reconnect_min_ms, self.settings.reconnect_max_ms)

    def _spawn(self, job: Any) -> None:
        task = asyncio.get_running_loop().create_task(job)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _check_handshake(headers: dict[str, str]) -> Response | None:
    """RFC 6455 s4.2.1: a GET with Upgrade, Connection, a 16-byte key, version 13."""
    upgrade = headers.get("upgrade", "").lower()
    connection = headers.get("connection", "").lower()
    if upgrade != "websocket" or "upgrade" not in connection:
        return problem_response(426, "this endpoint speaks WebSocket only")
    if headers.get("sec-websocket-version") != "13":
        return problem_response(
            426, "WebSocket version 13 only", headers=(("sec-websocket-version", "13"),)
        )
    try:
        key = base64.b64decode(headers.get("sec-websocket-key", ""), validate=True)
    except binascii.Error:
        key = b""
    if len(key) != 16:
        return problem_response(400, "a malformed Sec-WebSocket-Key")
    return None


def _offered_protocols(headers: dict[str, str]) -> list[str]:
    field = headers.get("sec-websocket-protocol", "")
    return [p.strip() for p in field.split(",") if p.strip()]


_BEARER = "bearer."


def _promote_bearer(headers: dict[str, str]) -> None:
    """A ``bearer.<token>`` subprotocol becomes ``Authorization`` and leaves the list of
    offered subprotocols (it is never echoed back, nor logged as one)."""
    offered = _offered_protocols(headers)
    tokens = [p for p in offered if p.startswith(_BEARER)]
    if not tokens:
        return
    rest = [p for p in offered if not p.startswith(_BEARER)]
    headers["sec-websocket-protocol"] = ", ".join(rest)
    if "authorization" not in headers:
        headers["authorization"] = f"Bearer {tokens[0][len(_BEARER) :]}"
