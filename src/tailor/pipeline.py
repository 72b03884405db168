"""The stage order, in one place.

Requests flow down this list; responses flow back up. Each stage continues or answers locally.
A stage whose ``build`` returns ``None`` (switched off by config) is left out of the chain when
it is built, never checked per request.

    observe       metrics for every answer                      (outermost: counts all)
    request_id    X-Request-Id in, out and inward
    trace         W3C traceparent in (a bad one starts a trace), the server span out
    access_log    one JSON line per request (logs.access); a denial names its stage, why
    errors        exceptions below -> problem+json              (500/502/503/504, no trace)
    limits        header size, body size, receive deadline      -> 431 / 413 / 408
    sanitize      drop internal, hop-by-hop, forwarded headers
    shed          in-flight cap, queue wait bound; call allowance -> 503 + Retry-After
    route         endpoint lookup                               -> 404 / 405
    clients       the caller's app, platform, version; counted  -> 410 past a sunset
                  per route; Deprecation/Sunset/Link headers,
                  per-version workarounds
    authguard     failed authentication per client IP (GCRA):   -> 429 + Retry-After
                  an IP over its quota is refused before
                  authenticate; good credentials cost a dict check
    authenticate  the profile's authenticators: JWT, session,   -> 401 / 403 (CSRF) / 503
                  API key, client certificate
    entitle       the caller's app: active, on this BFF, route  -> 403
    ratelimit     per IP / user / app and route class, GCRA     -> 429 + RateLimit headers
    idempotency   Idempotency-Key on commands: a retry answers   -> replay / 409 / 422
                  the first result (tailor.commands)
    cache         per-caller key, ETag, SWR / stale-if-error,   -> 304 / hit / stale
                  coalescing, tag invalidation; a hit in the
                  coding asked for, from the stored variants
    compress      Accept-Encoding -> the answer's coding;       -> 406 / 415 / 413
                  compressed request bodies decoded, bounded;
                  on the way back Vary, the compressed body
                  and its own ETag
    handler       parameters, then the endpoint (aggregation)  -> 400

Answering without waiting: a stage is a plain function that returns the response itself when
it has it now, else an awaitable of it, and finishes its work on the way back with one of the
combinators of :mod:`tailor.chain`. So a request answered without waiting (every cache hit)
runs no coroutine at all, and the server writes its answer in the same turn of the event loop
that read the request, with no task. Nothing here awaits before the chain has returned: code
that needs a running task (``asyncio.timeout``) only ever runs inside the awaitable, which the
caller awaits in a task. :meth:`BFF.respond <tailor.app.BFF.respond>` is this chain;
:meth:`BFF.handle <tailor.app.BFF.handle>` always returns an awaitable.

Extension points: a BFF adds a stage of its own next to a named stage of this list with
:meth:`BFF.add_stage <tailor.app.BFF.add_stage>` (a :class:`Placement`); its settings come
from the config's ``stages.<name>`` table, validated by :meth:`BuildContext.stage_settings`
when the chain is built. See docs/extending.md.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

import msgspec

from tailor.chain import Chain, StageFactory
from tailor.commands.stage import IdempotencyStage
from tailor.config import Config
from tailor.errors import ConfigError
from tailor.observe.metrics import Metrics
from tailor.resilience.runtime import Resilience
from tailor.routing import Router
from tailor.stages.access_log import AccessLogStage
from tailor.stages.authenticate import AuthenticateStage
from tailor.stages.authguard import AuthGuardStage
from tailor.stages.cache import CacheStage
from tailor.stages.clients import ClientsStage
from tailor.stages.compress import CompressStage
from tailor.stages.entitle import EntitleStage
from tailor.stages.errors import ErrorStage
from tailor.stages.handler import HandlerStage
from tailor.stages.limits import LimitsStage
from tailor.stages.observe import ObserveStage
from tailor.stages.ratelimit import RateLimitStage
from tailor.stages.request_id import RequestIdStage
from tailor.stages.route import RouteStage
from tailor.stages.sanitize import SanitizeStage
from tailor.stages.shed import ShedStage
from tailor.stages.trace import TraceStage
from tailor.upstream.client import UpstreamClient
from tailor.validation import convert

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from tailor.auth.authenticator import Authenticator
    from tailor.clients.workarounds import Transform

Background = Callable[[], Coroutine[Any, Any, None]]
S = TypeVar("S", bound=msgspec.Struct)

#: The built-in stages, outermost first: the one stage order (the module docstring says what
#: each answers). A stage's ``name`` is what a :class:`Placement` names it by.
BUILT_IN: tuple[StageFactory, ...] = (
    ObserveStage,
    RequestIdStage,
    TraceStage,
    AccessLogStage,
    ErrorStage,
    LimitsStage,
    SanitizeStage,
    ShedStage,
    RouteStage,
    ClientsStage,
    AuthGuardStage,
    AuthenticateStage,
    EntitleStage,
    RateLimitStage,
    IdempotencyStage,
    CacheStage,
    CompressStage,
    HandlerStage,
)


@dataclass
class BuildContext:
    """Everything a stage may need to build itself.

    ``redis()`` hands out the BFF's one shared Redis client (created on first use, from
    ``state.redis_url``). A stage that needs a long-running task (a subscriber, a refresher)
    appends a coroutine function to ``background``; the BFF runs it on its event loop and
    cancels it at shutdown. ``resilience`` is the BFF's resilience runtime (breakers, budgets,
    last-known-good store, metrics), handed to the stages and the engine that use it. A stage
    that knows a new connection's first request would be refused (the shed stage, overloaded)
    appends a check to ``admission``, which the server asks as it accepts each connection, with
    how many connections it accepted whose first request has not reached the pipeline yet
    (:meth:`tailor.app.BFF.admitting`); one that knows a request would be refused whatever it
    asks appends a check to ``shedding``, which the server asks as each request's head is
    parsed on a connection already served, and answers it at once when one says so
    (:meth:`tailor.app.BFF.shedding`).
    """

    config: Config
    router: Router
    client: UpstreamClient
    metrics: Metrics
    resilience: Resilience | None = None
    authenticators: list[Authenticator] = field(default_factory=list)
    #: Workaround transforms the BFF registered (``BFF.add_transform``), by name.
    transforms: dict[str, Transform] = field(default_factory=dict)
    #: Headers every answer of a route's endpoint carries, by route template, added by the
    #: handler stage (so the edge cache keeps them): a deprecated route's, from ``clients``.
    route_headers: dict[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)
    background: list[Background] = field(default_factory=list)
    admission: list[Callable[[int], bool]] = field(default_factory=list)
    shedding: list[Callable[[], bool]] = field(default_factory=list)
    _redis: Redis | None = None

    def redis(self) -> Redis:
        if self._redis is None:
            from redis.asyncio import Redis

            url = self.config.state.redis_url
            if url is None:
                raise ConfigError("state.redis_url", "a Redis backend is configured without it")
            self._redis = Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        return self._redis

    def stage_settings(self, name: str, settings: type[S]) -> S:
        """The config's ``stages.<name>`` table validated as ``settings`` (an added stage's
        own msgspec Struct); a bad value stops startup naming its key."""
        return convert(self.config.stages.get(name, {}), settings, at=f"stages.{name}")


class Placement(NamedTuple):
    """A stage a BFF adds, and where: just ``before`` or just ``after`` the stage of that name.

    >>> Placement(ObserveStage, after="authenticate").after
    'authenticate'
    """

    stage: StageFactory
    before: str | None = None
    after: str | None = None


def stage_order(added: Sequence[Placement] = ()) -> tuple[StageFactory, ...]:
    """The built-in stages with ``added`` placed among them, in the order given (a stage may
    be placed next to one added before it). A position naming no stage, a name taken twice,
    or a place below the handler (which never calls on) stops startup naming it."""
    order = list(BUILT_IN)
    for placed in added:
        name = placed.stage.name
        where = f"add_stage({name})"
        if (placed.before is None) == (placed.after is None):
            raise ConfigError(where, "give exactly one of before= or after=")
        names = [s.name for s in order]
        if name in names:
            raise ConfigError(where, f"a stage named '{name}' is already in the chain")
        anchor = placed.after if placed.after is not None else placed.before
        side = "after" if placed.after is not None else "before"
        if anchor not in names:
            raise ConfigError(
                f"{where}.{side}", f"no stage is named '{anchor}'; stages: {', '.join(names)}"
            )
        if anchor == HandlerStage.name and side == "after":
            raise ConfigError(f"{where}.after", "the handler is innermost: nothing runs below it")
        order.insert(names.index(anchor) + (side == "after"), placed.stage)
    return tuple(order)


def build_chain(ctx: BuildContext, added: Sequence[Placement] = ()) -> tuple[Chain, list[str]]:
    """Stack the enabled stages (``added`` placed among the built-in ones) around the handler.
    Returns the chain and the stage names in order (for logs and docs)."""
    order = stage_order(added)
    names = {placed.stage.name for placed in added}
    for key in ctx.config.stages:
        if key not in names:
            raise ConfigError(f"stages.{key}", "no stage added to this BFF has this name")
    built = [(factory.name, factory.build(ctx)) for factory in order]
    stages = [s for _, s in built if s is not None]

    async def unreachable(request: Any) -> Any:  # the handler stage never calls next
        raise RuntimeError("the handler stage must be last")

    chain: Chain = unreachable
    # The access line names the stage that answered: each stage below access_log notes that
    # the request reached it (the ones above it answer nothing of their own).
    noting = ctx.config.logs.access
    for name, stage in reversed(built):
        if stage is None:
            continue
        noting = noting and name != AccessLogStage.name
        chain = stage.wrap(chain)
        if noting:
            chain = _noting(name, chain)
    return chain, [type(s).__name__ for s in stages]


def _noting(name: str, link: Chain) -> Chain:
    """``link``, noting on the request that it reached this stage."""

    def reached(request: Any) -> Any:
        request.stage = name
        return link(request)

    return reached
