"""Failed authentication per client IP (an IPv6 client by its /64), ahead of authentication:
a client guessing tokens, API keys, passwords or client secrets is throttled, while a caller
whose credential is good pays one dict check.

    an IP known to be over its quota      -> 429 + Retry-After, before authenticate runs
    a request that fails authentication   -> one failure charged (GCRA, memory or Redis);
                                             the failure that does not fit is a 429 too

A failure is a 401 (from ``authenticate``, or from a login or token endpoint's handler,
raised or returned), or a 403 with no caller established (``authenticate``'s cross-site
refusal, a login refused as cross-site). A 403 for an authenticated caller (entitlements,
object access) is authorization, not a guess, and costs nothing; nor does the 401 for a
stale session cookie (``request.stale_session``: see :mod:`tailor.auth.session`), so browsers
retrying a session their store forgot never lock their address (and its logins) out.

A request that authenticates fine never reaches the backend: the stage only keeps, per
process, the IPs the backend refused and until when (the refusal's retry-after), bounded by
``max_blocked``. With Redis the failure count is shared, but that local list is not: an IP
over its quota on one instance gets, on each other instance, one more attempt per refill
before that instance learns of it from its own charge. That bounds the leak at one request
per instance per refill interval, and keeps Redis off the good path.

When Redis cannot answer, the failure is counted in this process's memory instead (per
instance limits beat none), logged at most once per interval and counted; the request keeps
its own answer (the failure already happened: failing closed would add nothing).
"""

from __future__ import annotations

import ipaddress
import logging
import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from prometheus_client import Counter

from tailor.chain import Chain, Outcome, rescue, then
from tailor.config import AuthFailures
from tailor.errors import HTTPProblem
from tailor.http import Request, Response
from tailor.problem import problem_response
from tailor.ratelimit.backend import configured_backend
from tailor.ratelimit.gcra import BackendUnavailable, Quota, RateLimiter, Verdict
from tailor.ratelimit.memory import MemoryRateLimiter
from tailor.stages.ratelimit import ThrottledLog

if TYPE_CHECKING:
    from tailor.pipeline import BuildContext

log = logging.getLogger("tailor.ratelimit")

POLICY_NAME = "auth-failures"


def client_key(ip: str) -> str:
    """The address a failure is charged to: an IPv4 address itself, an IPv6 address's /64
    (one subscriber's network: rotating addresses inside it must not reset the count).

    >>> client_key("203.0.113.7"), client_key("2001:db8:0:1:aa::7"), client_key("::ffff:10.0.0.1")
    ('203.0.113.7', '2001:db8:0:1::/64', '10.0.0.1')
    """
    if ":" not in ip:
        return ip
    try:
        address = ipaddress.IPv6Address(ip)
    except ValueError:
        return ip
    if address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(ipaddress.IPv6Network((int(address) >> 64 << 64, 64)))


def is_auth_failure(status: int, request: Request) -> bool:
    """A 401 (but a stale session's), or a 403 before any caller was established (see the
    module docstring)."""
    return (status == 401 and not request.stale_session) or (
        status == 403 and request.principal is None
    )


class BlockedIPs:
    """IPs the backend refused, with the monotonic time their next failure would fit again.
    Bounded: past ``max_size`` the expired entries go, then the oldest.

    >>> blocked = BlockedIPs(2, clock=lambda: 10.0)
    >>> blocked.add("203.0.113.7", 15.0); blocked.remaining("203.0.113.7")
    5.0
    """

    def __init__(self, max_size: int, clock: Callable[[], float] = time.monotonic) -> None:
        #: ip -> when it may fail again; read directly by the stage (empty: nothing to look up)
        self.until: dict[str, float] = {}
        self._max_size = max_size
        self._clock = clock

    def __len__(self) -> int:
        return len(self.until)

    def remaining(self, ip: str) -> float:
        """Seconds this IP is still refused for; 0 when it is not (an expired entry goes)."""
        until = self.until.get(ip)
        if until is None:
            return 0.0
        left = until - self._clock()
        if left > 0:
            return left
        del self.until[ip]
        return 0.0

    def add(self, ip: str, until: float) -> None:
        until_map = self.until
        until_map.pop(ip, None)  # re-insert last: the dict's order is recency of refusal
        until_map[ip] = until
        if len(until_map) > self._max_size:
            now = self._clock()
            for key in [k for k, t in until_map.items() if t <= now]:
                del until_map[key]
            for key in list(until_map)[: max(len(until_map) - self._max_size, 0)]:
                del until_map[key]


class AuthGuardStage:
    """Refuses an IP over ``rate_limit.auth_failures`` and charges every failed authentication.

    >>> import asyncio
    >>> from tailor import BFF, build_config, json_response
    >>> from tailor.testing import call
    >>> jwt = {"issuer": "https://id.example", "audience": "edge", "jwks_upstream": "idp"}
    >>> cfg = {"rate_limit": {"auth_failures": {"limit": 2, "window_s": 300}},
    ...        "auth": {"jwt": jwt}, "upstreams": {"idp": "http://127.0.0.1:1"}}
    >>> bff = BFF(build_config({"name": "edge", **cfg}))
    >>> @bff.get("/me")
    ... async def me(request):
    ...     return json_response({})
    >>> async def guesses():
    ...     return [(await call(bff, "GET", "/me")).status for _ in range(3)]
    >>> asyncio.run(guesses())
    [401, 401, 429]
    """

    name = "authguard"

    def __init__(
        self,
        cfg: AuthFailures,
        key_prefix: str,
        backend: RateLimiter,
        refused: Counter,
        backend_errors: Counter,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limit = cfg.limit
        self._window_s = cfg.window_s
        # "/" cannot occur in a policy name: no rate_limit.policies key can collide with it.
        self._prefix = f"{key_prefix}:{POLICY_NAME}/ip:"
        self._backend = backend
        # Where failures are counted while Redis cannot answer (a memory backend is its own).
        self._fallback = backend if isinstance(backend, MemoryRateLimiter) else MemoryRateLimiter()
        self._blocked = BlockedIPs(cfg.max_blocked, clock)
        self._clock = clock
        self._refused = refused
        self._backend_errors = backend_errors
        self._log = ThrottledLog(log, 10.0)
        self._policy_header = (
            "ratelimit-policy",
            f'"{POLICY_NAME}";q={cfg.limit};w={cfg.window_s}',
        )

    @classmethod
    def build(cls, ctx: BuildContext) -> AuthGuardStage | None:
        cfg = ctx.config.rate_limit
        if not cfg.enabled or cfg.auth_failures is None:
            return None
        backend = configured_backend(cfg, ctx.redis)
        registry = ctx.metrics.registry
        refused = Counter(
            "tailor_auth_failures_refused",
            "Requests refused with 429 because their IP failed authentication too often.",
            registry=registry,
        )
        errors = Counter(
            "tailor_auth_failures_backend_errors",
            "Failed authentications counted in process memory because the backend failed.",
            registry=registry,
        )
        return cls(cfg.auth_failures, cfg.key_prefix, backend, refused, errors)

    def wrap(self, next_handler: Chain) -> Chain:
        blocked = self._blocked
        any_blocked = blocked.until  # a dict: its truthiness costs no Python call
        raised, answered = self._raised, self._answered  # bound once, not per request

        def authguard(request: Request) -> Outcome:
            # The good path: one truthiness check while no IP is blocked, one lookup after.
            if any_blocked:
                left = blocked.remaining(client_key(request.client))
                if left:
                    return self._too_many(request, left)
            return then(rescue(raised, next_handler, request), answered, request)

        return authguard

    def _answered(self, response: Response, request: Request) -> Outcome:
        """``response``, or (a failed authentication) it or a 429 once its failure is charged."""
        if is_auth_failure(response.status, request):
            return self._failed_or(request, response)
        return response

    def _raised(self, exc: Exception, request: Request) -> Outcome:
        """A login handler's refusal (mapped further up) is charged like a returned one."""
        if isinstance(exc, HTTPProblem) and is_auth_failure(exc.status, request):
            return self._failed_then_raise(request, exc)
        raise exc

    async def _failed_or(self, request: Request, response: Response) -> Response:
        """``response`` (a failed authentication), or a 429 when its charge does not fit."""
        refused = await self._failed(request)
        return response if refused is None else refused

    async def _failed_then_raise(self, request: Request, exc: HTTPProblem) -> Response:
        """A 429 when the failure ``exc`` stands for does not fit, else ``exc`` raised on."""
        refused = await self._failed(request)
        if refused is not None:
            return refused
        raise exc

    async def _failed(self, request: Request) -> Response | None:
        """Charge one failure to the request's IP; a 429 when it does not fit."""
        ip = client_key(request.client)
        if not ip:
            return None
        quotas = (Quota(self._prefix + ip, self._limit, self._window_s),)
        verdict = await self._charge(quotas)
        if verdict.allowed:
            return None
        self._blocked.add(ip, self._clock() + verdict.retry_after_s)
        return self._too_many(request, verdict.retry_after_s)

    async def _charge(self, quotas: tuple[Quota, ...]) -> Verdict:
        try:
            return await self._backend.acquire(quotas)
        except BackendUnavailable as exc:
            self._backend_errors.inc()
            self._log.warning("auth failures counted in this process only: %s", exc)
            return await self._fallback.acquire(quotas)

    def _too_many(self, request: Request, left_s: float) -> Response:
        self._refused.inc()
        retry = str(max(math.ceil(left_s), 1))
        return problem_response(
            429,
            f"too many failed authentication attempts from this address; retry after {retry} s",
            headers=(
                self._policy_header,
                ("ratelimit", f'"{POLICY_NAME}";r=0;t={retry}'),
                ("retry-after", retry),
            ),
            request_id=request.request_id,
        )
