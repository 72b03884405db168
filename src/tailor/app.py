"""The BFF application object: a route table, a pipeline, and two server entry points.

    bff = BFF(load_config(path, PROFILE))

    @bff.get("/v1/home", plan=HOME)
    async def home(request: Request) -> Response:
        return await aggregate(request, shape_home, user_id=request.principal.subject)

``bff`` is then both an RSGI application (granian, the default) and an ASGI one (uvicorn,
hypercorn, granian --interface asgi). Both entry points only translate their server's shapes
into :class:`~tailor.http.Request` and back; everything else is the one core.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from tailor.aggregate.plan import Plan
from tailor.auth.factory import build_authenticators, check_auth, upstreams_used
from tailor.auth.internal import build_inward_credentials
from tailor.cache.policy import CachePolicy
from tailor.chain import Chain, Handler, Outcome, StageFactory, awaitable
from tailor.clients.workarounds import Transform, compile_clients
from tailor.config import Config
from tailor.govern.exposure import check_exposure
from tailor.http import JSON_CONTENT_TYPE, Request, Response
from tailor.observe.admin import AdminServer
from tailor.observe.metrics import Metrics
from tailor.observe.redis_health import RedisHealth
from tailor.openapi import openapi_document
from tailor.params import QueryDeclaration, query_spec
from tailor.pipeline import BuildContext, Placement, build_chain
from tailor.resilience.runtime import Resilience
from tailor.resilience.transport import ResilientTransport
from tailor.routing import INFER, Route, Router
from tailor.serve import asgi, rsgi
from tailor.serve.collector import tune_collector
from tailor.upstream.build import build_upstream_transport
from tailor.upstream.client import UpstreamClient
from tailor.upstream.registry import ServiceRegistry
from tailor.upstream.transport import Transport

log = logging.getLogger("tailor")


def claim_admin_port(cfg: Config, metrics: Metrics) -> AdminServer:
    """The admin listener of this worker. Each worker has its own metrics, so with N workers
    each claims the first free port of ``admin.port`` .. ``admin.port + N - 1`` (scrape them
    all); with one worker a taken port is an error, as for any listener, and a listening
    socket handed down for it is served (docs/rollout.md)."""
    ports = (
        [cfg.admin.port]
        if cfg.admin.port == 0
        else [cfg.admin.port + i for i in range(cfg.server.workers)]
    )
    for port in ports[:-1]:
        try:
            return AdminServer(cfg.admin.host, port, metrics.registry)
        except OSError:
            continue  # another worker of this BFF has it
    one = cfg.server.workers == 1
    return AdminServer(cfg.admin.host, ports[-1], metrics.registry, inherit=one)


class BFF:
    """One Backend-for-Frontend.

    >>> from tailor import build_config
    >>> bff = BFF(build_config({"name": "mobile", "upstreams": {"users": "http://127.0.0.1:9002"}}))
    >>> @bff.get("/v1/ping", auth=False)
    ... async def ping(request: Request) -> Response:
    ...     return Response(204)
    >>> [(route.method, route.template) for route in bff.router.routes]
    [('GET', '/v1/ping')]
    """

    def __init__(self, config: Config, *, transport: Transport | None = None) -> None:
        self.config = config
        self.router = Router()
        self.metrics = Metrics(config.name)
        self.registry = ServiceRegistry(config.upstreams)
        self._transport = transport
        self._uses: set[str] = set()
        self._chain: Chain | None = None
        self._client: UpstreamClient | None = None
        self._admin: AdminServer | None = None
        self._ctx: BuildContext | None = None
        self._tasks: list[asyncio.Task[None]] = []
        #: Background jobs that wait for a running loop (none at startup): started by handle().
        self._background_pending = False
        self.stages: list[str] = []
        self._added: list[Placement] = []
        self._openapi: bytes | None = None
        if config.openapi.path:  # the document, built by check() once every route is in
            self.get(config.openapi.path, auth=False, response=dict)(self._serve_openapi)
        self._transforms: dict[str, Transform] = {}

    # -- routes -------------------------------------------------------------------------

    def route(
        self,
        method: str,
        template: str,
        *,
        auth: bool = True,
        query: QueryDeclaration | None = None,
        plan: Plan | None = None,
        uses: tuple[str, ...] = (),
        cache: CachePolicy | None = None,
        response: Any = INFER,
        body: Any = None,
        problems: tuple[int, ...] = (),
        status: int = 200,
        documented: bool = True,
    ) -> Callable[[Handler], Handler]:
        """Register an endpoint. ``plan`` is the aggregation its handler runs (with
        :func:`~tailor.aggregate.aggregate`: the plan is named here only); its upstreams and
        ``uses`` are what the route calls, so a config that lacks one fails at startup rather
        than on the first request. ``query`` declares its query parameters (a
        :class:`~tailor.params.Query` class, or a dict of parameter kinds). ``cache`` opts the
        route into the edge cache (see :mod:`tailor.cache`). ``response`` (the body type, when
        the handler's ``-> Json[Body]`` does not say it; ``None`` for a 204), ``body`` (the
        JSON body it reads) and ``problems`` (statuses its handler answers itself, such as
        415) and ``status`` (its success status: 201 for a command that creates) are what
        its OpenAPI operation documents (docs/openapi.md), unless ``documented`` is False (a
        live route: docs/live.md); the response's
        fields' data classes are what the governance gate checks (docs/governance.md)."""
        spec = query_spec(query)

        def register(handler: Handler) -> Handler:
            route = Route(
                method, template, handler, auth, spec, cache=cache, plan=plan,
                response=response, body=body, uses=uses, problems=problems, status=status,
                documented=documented,
            )  # fmt: skip
            self.router.add(route)
            self._uses.update(uses)
            if plan is not None:
                self._uses.update(plan.upstreams)
            return handler

        return register

    def get(self, template: str, **options: Any) -> Callable[[Handler], Handler]:
        return self.route("GET", template, **options)

    def post(self, template: str, **options: Any) -> Callable[[Handler], Handler]:
        return self.route("POST", template, **options)

    # -- extension points ---------------------------------------------------------------

    def add_stage(
        self, stage: StageFactory, *, before: str | None = None, after: str | None = None
    ) -> None:
        """Add a stage of this BFF's own (or of a package shared by BFFs) just ``before`` or
        just ``after`` the stage of that name (see :mod:`tailor.pipeline` for the order).
        ``stage`` has the built-in stages' shape: a ``name``, ``build(ctx)`` and ``wrap``;
        its settings, if any, come from the config's ``stages.<name>``. Checked at startup:
        an unknown position or a bad setting stops it naming the key (docs/extending.md)."""
        if self._chain is not None:
            raise RuntimeError("add_stage() after startup: the chain is already built")
        self._added.append(Placement(stage, before, after))

    def add_transform(self, name: str, transform: Transform) -> None:
        """Register a workaround transform under ``name``, for the config's
        ``clients.workarounds`` rules to name (docs/clients.md). A rule naming a transform
        not registered stops startup naming the key."""
        if self._chain is not None:
            raise RuntimeError("add_transform() after startup: the chain is already built")
        self._transforms[name] = transform

    # -- lifecycle ------------------------------------------------------------------------

    def check(self) -> None:
        """What startup refuses, checked without starting anything (a server's parent process
        calls it before forking workers): an upstream a route or authenticator uses but the
        config lacks, a route requiring authentication that no authenticator provides, a
        personal or sensitive response field without a ``governance.expose`` entry, a
        deprecation or workaround naming a route or transform the BFF lacks, and (when
        ``openapi.path`` serves it) a route the OpenAPI document cannot describe.
        Raises :class:`~tailor.errors.ConfigError` naming the key or the route."""
        self.registry.require(self._uses | upstreams_used(self.config))
        check_auth(self.config, self.router.routes)
        check_exposure(self.config.governance, self.router.routes)
        clients = self.config.clients
        if clients is not None:
            templates = [route.template for route in self.router.routes]
            compile_clients(clients.deprecations, clients.workarounds, self._transforms, templates)
        if self.config.openapi.path:
            self._openapi = msgspec.json.encode(openapi_document(self))

    async def _serve_openapi(self, request: Request) -> Response:
        if self._openapi is None:
            self.check()
        assert self._openapi is not None
        return Response(200, self._openapi, [JSON_CONTENT_TYPE])

    def startup(self, *, admin: bool = True, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """Build the chain and the upstream client; start background tasks and the admin
        listener. Idempotent."""
        if self._chain is not None:
            return
        cfg = self.config
        self.check()
        resilience = Resilience(cfg.resilience, cfg.upstreams, self.metrics.registry)
        transport: Transport = ResilientTransport(
            self._transport or build_upstream_transport(cfg), resilience
        )
        # Inward calls carry an exchanged internal token, never the client's credential.
        credentials = None
        if cfg.token_exchange is not None:
            credentials = build_inward_credentials(
                cfg.token_exchange, self.registry, transport, self.metrics
            )
        self._client = UpstreamClient(
            self.registry,
            transport,
            metrics=self.metrics,
            default_timeout_s=cfg.client.default_timeout_s,
            credentials=credentials,
        )
        ctx = BuildContext(cfg, self.router, self._client, self.metrics, resilience)
        ctx.authenticators = build_authenticators(ctx)
        ctx.transforms = self._transforms
        self._chain, self.stages = build_chain(ctx, self._added)
        if ctx._redis is not None:  # some stage keeps its state there: watch it
            health = RedisHealth(ctx._redis, self.metrics.registry, cfg.state.redis_url or "")
            ctx.background.append(health.run)
        self._ctx = ctx
        self._start_background(loop)
        if admin and cfg.admin.enabled:
            self._admin = claim_admin_port(cfg, self.metrics)
            self._admin.start()
            # With admin.port = 0 (the default) the port is the system's choice: say which.
            log.info("%s: admin listener on %s:%d", cfg.name, cfg.admin.host, self._admin.port)
        log.info("%s ready: stages %s", cfg.name, " -> ".join(self.stages))

    def _start_background(self, loop: asyncio.AbstractEventLoop | None) -> None:
        if self._ctx is None or not self._ctx.background or self._tasks:
            return
        self._background_pending = True
        if loop is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return  # no loop yet: started on the first request instead
        self._tasks = [loop.create_task(job()) for job in self._ctx.background]
        self._background_pending = False

    @property
    def admin_port(self) -> int | None:
        return self._admin.port if self._admin else None

    async def shutdown(self) -> None:
        for task in self._tasks:
            task.cancel()
        self._tasks = []
        # As before shutdown: a request served after it starts them again.
        self._background_pending = self._ctx is not None and bool(self._ctx.background)
        if self._ctx is not None and self._ctx._redis is not None:
            await self._ctx._redis.aclose()
        if self._admin is not None:
            self._admin.stop()
            self._admin = None
        if self._client is not None:
            await self._client.aclose()

    def admitting(self, pending: int = 0) -> bool:
        """Whether a new connection should be served, ``pending`` others having been accepted
        whose first request has not reached the pipeline yet: False while a stage knows its
        first request would be refused (the shed stage, overloaded), so the server turns it
        away at accept, before it costs a transport (:mod:`tailor.serve.http1`)."""
        ctx = self._ctx
        if ctx is not None:
            for check in ctx.admission:  # asked per connection: no generator
                if not check(pending):
                    return False
        return True

    @property
    def shedding(self) -> Callable[[], bool] | None:
        """What the server asks as each request begins on a connection already served: a
        check that says True while a stage knows the request would be refused whatever it asks
        (the shed stage, its cap full and its queue closed, counting it as shed), and the server
        then answers it 503 as its head ends, before a request object or any stage costs
        anything (:mod:`tailor.serve.http1`). None without such a stage, or before
        :meth:`startup`: nothing to ask. One stage's check is handed over as it is: asked per
        request, a call less is worth it."""
        checks = self._ctx.shedding if self._ctx is not None else []
        if len(checks) <= 1:
            return checks[0] if checks else None
        return lambda: any(check() for check in checks)

    def handle(self, request: Request) -> Awaitable[Response]:
        """Run one request through the pipeline: ``await bff.handle(request)``."""
        return awaitable(self.respond(request))

    def respond(self, request: Request) -> Outcome:
        """Run one request through the pipeline as far as it goes without waiting: the
        response itself when nothing had to wait (a refusal, a cache hit), else an awaitable
        of it, to be awaited in a task whose context is the one this was called in (see
        :mod:`tailor.pipeline`). What a server calls; :meth:`handle` always gives an
        awaitable."""
        chain = self._chain
        if chain is None or self._background_pending:
            chain = self._ready()
        return chain(request)

    def _ready(self) -> Chain:
        """The chain, built on first use, with the background jobs started once a loop runs."""
        if self._chain is None:
            self.startup()
        else:
            self._start_background(None)
        assert self._chain is not None
        return self._chain

    # -- server entry points ----------------------------------------------------------------

    def __rsgi_init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.startup(loop=loop)
        tune_collector(self.config.server)  # this process is a server worker: tune its GC

    def __rsgi_del__(self, loop: asyncio.AbstractEventLoop) -> None:
        loop.run_until_complete(self.shutdown())

    async def __rsgi__(self, scope: Any, protocol: Any) -> None:
        await rsgi.serve(self, scope, protocol)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        await asgi.serve(self, scope, receive, send)
