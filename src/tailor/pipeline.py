"""The stage order, in one place.

Requests flow down this list; responses flow back up. Each stage continues or answers locally.
A stage whose ``build`` returns ``None`` (switched off by config) is left out of the chain when
it is built, never checked per request.

    observe       metrics for every answer                      (outermost: counts all)
    request_id    X-Request-Id in, out and inward
    errors        exceptions below -> problem+json              (500/502/503/504, no trace)
    limits        header size, body size, receive deadline      -> 431 / 413 / 408
    sanitize      drop internal, hop-by-hop, forwarded headers
    shed          in-flight cap, queue wait bound; call allowance -> 503 + Retry-After
    route         endpoint lookup                               -> 404 / 405
    authguard     failed authentication per client IP (GCRA):   -> 429 + Retry-After
                  an IP over its quota is refused before
                  authenticate; good credentials cost a dict check
    authenticate  the profile's authenticators: JWT, session,   -> 401 / 403 (CSRF) / 503
                  API key, client certificate
    entitle       the caller's app: active, on this BFF, route  -> 403
    rate limit    per IP / user / app and route class, GCRA     -> 429 + RateLimit headers
    cache         per-caller key, ETag, SWR / stale-if-error,   -> 304 / hit / stale
                  coalescing, tag invalidation
    handler       parameters, then the endpoint (aggregation)  -> 400

Answering without waiting. A stage is a plain function, not a coroutine function: it returns
the :class:`~tailor.http.Response` itself when it has it now (a refusal, a cache hit), or an
awaitable of it when something below has to wait (the handler's upstream calls). A stage with
work to do on the way back checks which it got: a response is finished at once; an awaitable
is handed to the stage's own small coroutine, which awaits it and then finishes the same way.
So a request answered without waiting (every cache hit) runs no coroutine at all, and the
server writes its answer in the same turn of the event loop that read the request, with no
task. Nothing here awaits before the chain has returned: code that needs a running task
(``asyncio.timeout``) only ever runs inside the awaitable, which the caller awaits in a task.
:meth:`BFF.respond <tailor.app.BFF.respond>` is this chain; :meth:`BFF.handle
<tailor.app.BFF.handle>` always returns an awaitable.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tailor.config import Config
from tailor.http import Response
from tailor.observe.metrics import Metrics
from tailor.resilience.runtime import Resilience
from tailor.routing import Chain, Outcome, Router
from tailor.upstream.client import UpstreamClient

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from tailor.auth.authenticator import Authenticator

Background = Callable[[], Coroutine[Any, Any, None]]


@dataclass
class BuildContext:
    """Everything a stage may need to build itself.

    ``redis()`` hands out the BFF's one shared Redis client (created on first use, from
    ``state.redis_url``). A stage that needs a long-running task (a subscriber, a refresher)
    appends a coroutine function to ``background``; the BFF runs it on its event loop and
    cancels it at shutdown. ``resilience`` is the BFF's resilience runtime (breakers, budgets,
    last-known-good store, metrics), handed to the stages and the engine that use it.
    """

    config: Config
    router: Router
    client: UpstreamClient
    metrics: Metrics
    resilience: Resilience | None = None
    authenticators: list[Authenticator] = field(default_factory=list)
    background: list[Background] = field(default_factory=list)
    _redis: Redis | None = None

    def redis(self) -> Redis:
        if self._redis is None:
            from redis.asyncio import Redis

            url = self.config.state.redis_url
            if url is None:
                from tailor.errors import ConfigError

                raise ConfigError("state.redis_url", "a Redis backend is configured without it")
            self._redis = Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        return self._redis


async def answer(response: Response) -> Response:
    """A response ready now, as an awaitable (for callers that always await)."""
    return response


def awaitable(outcome: Outcome) -> Awaitable[Response]:
    """``outcome`` as something to await, whichever it is."""
    return answer(outcome) if isinstance(outcome, Response) else outcome


def stage_order() -> Sequence[Any]:
    # Imported here: each stage module imports BuildContext from this one.
    from tailor.stages.authenticate import AuthenticateStage
    from tailor.stages.authguard import AuthGuardStage
    from tailor.stages.cache import CacheStage
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

    return (
        ObserveStage,
        RequestIdStage,
        ErrorStage,
        LimitsStage,
        SanitizeStage,
        ShedStage,
        RouteStage,
        AuthGuardStage,
        AuthenticateStage,
        EntitleStage,
        RateLimitStage,
        CacheStage,
        HandlerStage,
    )


def build_chain(ctx: BuildContext) -> tuple[Chain, list[str]]:
    """Stack the enabled stages around the handler. Returns the chain and the stage names in
    order (for logs and docs)."""
    stages = [s for s in (factory.build(ctx) for factory in stage_order()) if s is not None]

    async def unreachable(request: Any) -> Any:  # the handler stage never calls next
        raise RuntimeError("the handler stage must be last")

    chain: Chain = unreachable
    for stage in reversed(stages):
        chain = stage.wrap(chain)
    return chain, [type(s).__name__ for s in stages]
