"""Rate limiting after authentication (and entitlements): every configured policy that applies
to the route's class is charged for the caller's IP, user or app, in one atomic step.

Allowed: ``RateLimit-Policy`` and ``RateLimit`` on the response (draft-ietf-httpapi-
ratelimit-headers-11, see :mod:`tailor.ratelimit.policy`). Refused: 429 problem+json with
``Retry-After``. When the backend cannot answer (Redis down or slow), ``on_backend_error``
decides: ``fail_open`` serves the request without limits, ``fail_closed`` answers 503; either
way it is logged (at most once per interval) and counted, never an unhandled error.
"""

from __future__ import annotations

import logging
import math
import time
from typing import TYPE_CHECKING, NamedTuple

from prometheus_client import Counter

from tailor.chain import Chain, Outcome, awaitable, then
from tailor.config import RateLimit
from tailor.http import Request, Response
from tailor.problem import problem_response
from tailor.ratelimit.backend import configured_backend
from tailor.ratelimit.gcra import BackendUnavailable, Quota, RateLimiter, Verdict
from tailor.ratelimit.memory import MemoryRateLimiter
from tailor.ratelimit.policy import (
    QUOTA_CACHE_SIZE,
    CompiledPolicy,
    identity,
    known_tiers,
    policies_by_route,
    tier_of,
)

if TYPE_CHECKING:
    from tailor.pipeline import BuildContext

log = logging.getLogger("tailor.ratelimit")

#: A caller on a route: the ids of the route's policies, its client address, and the ids of
#: its principal and its app (``None``'s when it has none).
CallerKey = tuple[int, str, int, int]
#: Callers whose charges are kept, as many as each policy keeps quotas for (and emptied when
#: full, for the same reason: see tailor.ratelimit.policy).
CALLERS = QUOTA_CACHE_SIZE


class Caller(NamedTuple):
    """What one caller is charged on a route: the policies that apply, their quotas and the
    ``RateLimit-Policy`` header they make. Worked out from the caller's address, principal
    and app, all immutable, on its first request, then found by its :data:`CallerKey`
    (identity() and quota() per policy, and the tier, cost as much as the charge itself).
    It holds the principal and the app: while it is kept, no other object takes their ids."""

    principal: object
    app: object
    applied: tuple[CompiledPolicy, ...]
    quotas: tuple[Quota, ...]
    policy_header: tuple[str, str]


class ThrottledLog:
    """Log a recurring failure at most once per ``every_s``, with how many were folded in, so a
    dead Redis under load does not flood the log.

    >>> import logging, sys
    >>> demo = logging.getLogger("tailor.demo")
    >>> demo.addHandler(logging.StreamHandler(sys.stdout)); demo.propagate = False
    >>> throttled = ThrottledLog(demo, 10.0)
    >>> for _ in range(3):
    ...     throttled.warning("redis down: %s", "refused")
    redis down: refused
    """

    def __init__(self, logger: logging.Logger, every_s: float) -> None:
        self._logger = logger
        self._every_s = every_s
        self._next = 0.0
        self._folded = 0

    def warning(self, message: str, *args: object) -> None:
        now = time.monotonic()
        if now < self._next:
            self._folded += 1
            return
        folded, self._folded, self._next = self._folded, 0, now + self._every_s
        suffix = f" ({folded} more since the last report)" if folded else ""
        self._logger.warning(message + suffix, *args)


class RateLimitStage:
    """Charges the policies of ``rate_limit.policies``.

    >>> import asyncio
    >>> from tailor import BFF, build_config, json_response
    >>> from tailor.testing import call
    >>> ip = {"key": "ip", "limit": 2, "window_s": 60}
    >>> cfg = {"auth": {"anonymous": True}, "rate_limit": {"policies": {"ip": ip}}}
    >>> bff = BFF(build_config({"name": "edge", **cfg}))
    >>> @bff.get("/ping")
    ... async def ping(request):
    ...     return json_response({})
    >>> async def three():
    ...     return [(await call(bff, "GET", "/ping")).status for _ in range(3)]
    >>> asyncio.run(three())
    [200, 200, 429]
    """

    name = "ratelimit"

    def __init__(
        self,
        cfg: RateLimit,
        backend: RateLimiter,
        by_route: dict[int, tuple[CompiledPolicy, ...]],
        denied: Counter,
        backend_errors: Counter,
    ) -> None:
        self._fail_open = cfg.on_backend_error == "fail_open"
        self._backend = backend
        self._by_route = by_route
        self._denied = denied
        self._backend_errors = backend_errors.labels(cfg.backend, cfg.on_backend_error)
        self._log = ThrottledLog(log, 10.0)
        #: What each recent caller is charged, by :data:`CallerKey` (see :class:`Caller`).
        self._callers: dict[CallerKey, Caller] = {}

    @classmethod
    def build(cls, ctx: BuildContext) -> RateLimitStage | None:
        cfg = ctx.config.rate_limit
        if not cfg.enabled or not cfg.policies:
            return None
        backend = configured_backend(cfg, ctx.redis)
        registry = ctx.metrics.registry
        denied = Counter(
            "tailor_ratelimit_denied",
            "Requests refused with 429, by the policy that refused them.",
            ["policy"],
            registry=registry,
        )
        errors = Counter(
            "tailor_ratelimit_backend_errors",
            "Requests whose rate limit could not be checked, by backend and configured action.",
            ["backend", "action"],
            registry=registry,
        )
        return cls(cfg, backend, policies_by_route(ctx.router.routes, cfg), denied, errors)

    def wrap(self, next_handler: Chain) -> Chain:
        by_route = self._by_route
        acquire = self._backend.acquire
        # A backend that never waits (memory) is charged without a coroutine per request.
        charge = self._backend.charge if isinstance(self._backend, MemoryRateLimiter) else None
        tiers = known_tiers([p for policies in by_route.values() for p in policies])
        # RateLimit-Policy depends only on which policies applied and the tier: built once per
        # combination. Bounded: subsets of each route's policies x the tiers policies name.
        policy_headers: dict[tuple[tuple[CompiledPolicy, ...], str | None], tuple[str, str]] = {}

        callers = self._callers

        def judged(
            request: Request,
            applied: tuple[CompiledPolicy, ...],
            policy_header: tuple[str, str],
            verdict: Verdict,
        ) -> Outcome:
            if not verdict.allowed:
                return self._refused(request, policy_header, applied, verdict)
            # Built before the handler runs: they depend on the verdict only, and this code is
            # still warm in the CPU's caches here, not after a handler's work.
            # One usage per quota, one quota per applied policy, in the same order.
            if len(applied) == 1:
                usage = applied[0].usage_item(verdict.usages[0])
            else:
                usage = ", ".join(map(CompiledPolicy.usage_item, applied, verdict.usages))
            headers = (policy_header, ("ratelimit", usage))
            return then(next_handler(request), _with_headers, headers)

        # Not a coroutine with the memory backend: a request is charged without waiting.
        def rate_limit(request: Request) -> Outcome:
            route = request.route
            policies = by_route.get(id(route)) if route is not None else None
            if not policies:
                return next_handler(request)
            key = (id(policies), request.client, id(request.principal), id(request.app))
            found = callers.get(key) or charged_as(request, policies, key)
            _, _, applied, quotas, policy_header = found
            if not quotas:
                return next_handler(request)
            if charge is None:
                return charged_later(request, applied, quotas, policy_header)
            return judged(request, applied, policy_header, charge(quotas))

        def charged_as(
            request: Request, policies: tuple[CompiledPolicy, ...], key: CallerKey
        ) -> Caller:
            """What a caller is charged on a route, worked out on its first request there."""
            app = request.app
            tier = tier_of(app)
            applied: list[CompiledPolicy] = []
            quotas: list[Quota] = []
            for p in policies:
                who = identity(request, p.key, app)
                if who is not None:
                    applied.append(p)
                    quotas.append(p.quota(who, tier))
            # A tier no policy names gets the default items: one header for all such tiers.
            combination = (tuple(applied), tier if tier in tiers else None)
            policy_header = policy_headers.get(combination)
            if policy_header is None:
                policy_header = policy_headers[combination] = (
                    "ratelimit-policy",
                    ", ".join(p.policy_item(tier) for p in applied),
                )
            if len(callers) >= CALLERS:
                callers.clear()
            found = callers[key] = Caller(
                request.principal, app, combination[0], tuple(quotas), policy_header
            )
            return found

        async def charged_later(
            request: Request,
            applied: tuple[CompiledPolicy, ...],
            quotas: tuple[Quota, ...],
            policy_header: tuple[str, str],
        ) -> Response:
            try:
                verdict = await acquire(quotas)
            except BackendUnavailable as exc:
                return await self._unavailable(request, next_handler, exc)
            return await awaitable(judged(request, applied, policy_header, verdict))

        return rate_limit

    def _refused(
        self,
        request: Request,
        policy_header: tuple[str, str],
        applied: tuple[CompiledPolicy, ...],
        verdict: Verdict,
    ) -> Response:
        refused = [(p, u) for p, u in zip(applied, verdict.usages, strict=True) if u.refused]
        for p, _ in refused:
            self._denied.labels(p.name).inc()
        retry = str(max(math.ceil(verdict.retry_after_s), 1))
        # Only the refused policies in RateLimit: their t equals Retry-After, which the draft
        # says must not point before the end of any effective window.
        items = ", ".join(p.usage_item(u) for p, u in refused)
        return problem_response(
            429,
            f"rate limit exceeded ({', '.join(p.name for p, _ in refused)}); retry after {retry} s",
            headers=(policy_header, ("ratelimit", items), ("retry-after", retry)),
            request_id=request.request_id,
        )

    async def _unavailable(
        self, request: Request, next_handler: Chain, exc: BackendUnavailable
    ) -> Response:
        self._backend_errors.inc()
        if self._fail_open:
            self._log.warning("rate limits not checked (failing open): %s", exc)
            return await awaitable(next_handler(request))
        self._log.warning("rate limits not checked (failing closed, 503): %s", exc)
        return problem_response(
            503,
            "the service is busy, try again shortly",
            headers=(("retry-after", "1"),),
            request_id=request.request_id,
        )


def _with_headers(response: Response, headers: tuple[tuple[str, str], ...]) -> Response:
    response.headers += headers
    return response
