"""Configured policies, compiled once: which apply to a route, whose key a request fills, and
the header items that describe them (draft-ietf-httpapi-ratelimit-headers-11).

Header form (draft -11, Structured Field Lists whose items are Strings naming a policy)::

    RateLimit-Policy: "ip";q=600;w=60, "user-read";q=300;w=60
    RateLimit: "ip";r=599;t=1, "user-read";r=299;t=1

``q`` is the quota, ``w`` the window in seconds, ``r`` the requests left, ``t`` seconds until
the quota is whole again (a refused policy: until the next request fits, which is also
``Retry-After``). The partition key (``pk``) is left out: it would echo the IP or user id.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tailor.config import RateLimit, RatePolicy
from tailor.errors import ConfigError
from tailor.http import Request
from tailor.ratelimit.gcra import Quota, Usage
from tailor.routing import Route

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
DEFAULT_TIER = "default"
#: Quotas a policy keeps for its recent callers (about 250 bytes each: at most ~1 MB per
#: policy). Callers are unbounded (every IP), so a full cache is emptied and refilled by the
#: callers that come back. Dropping the oldest entry instead would walk the dict's deleted
#: slots from its start on every new caller.
QUOTA_CACHE_SIZE = 4096


# eq=False: a policy is equal only to itself and hashes by identity, so a tuple of the
# policies applied to a request can key the stage's cache of RateLimit-Policy headers.
@dataclass(frozen=True, slots=True, eq=False)
class CompiledPolicy:
    name: str
    key: str  # ip | user | app
    window_s: int
    limit: int
    tiers: dict[str, int] = field(default_factory=dict)
    prefix: str = ""
    _policy_items: dict[str, str] = field(default_factory=dict)
    _usage_prefix: str = ""
    _quotas: dict[str, Quota] = field(default_factory=dict)

    @classmethod
    def of(cls, name: str, policy: RatePolicy, key_prefix: str) -> CompiledPolicy:
        items = {
            tier: f'"{name}";q={limit};w={policy.window_s}'
            for tier, limit in {DEFAULT_TIER: policy.limit, **policy.tiers}.items()
        }
        return cls(
            name,
            policy.key,
            policy.window_s,
            policy.limit,
            dict(policy.tiers),
            f"{key_prefix}:{name}:",
            items,
            f'"{name}";r=',
        )

    def limit_for(self, tier: str) -> int:
        return self.tiers.get(tier, self.limit)

    def quota(self, who: str, tier: str) -> Quota:
        """This policy's quota for one caller (``who``: the IP, user or app id). Finding a
        caller's quota again costs less than building it (the key's concatenation, the GCRA
        constants; see docs/benchmarks.md); a quota is immutable, so the cached one is shared."""
        limit = self.tiers.get(tier, self.limit)
        cached = self._quotas.get(who)
        if cached is not None and cached.limit == limit:
            return cached
        # Missing, or the caller's tier (so its limit) changed since: the key is the same.
        quotas = self._quotas
        if len(quotas) >= QUOTA_CACHE_SIZE and who not in quotas:
            quotas.clear()
        quota = quotas[who] = Quota(self.prefix + who, limit, self.window_s)
        return quota

    def cached_quotas(self) -> int:
        """How many callers' quotas are kept now (never more than ``QUOTA_CACHE_SIZE``)."""
        return len(self._quotas)

    def usage_item(self, usage: Usage) -> str:
        """This policy's item of the ``RateLimit`` header after a decision (``reset_s`` is
        never negative: gcra.judge is given held_us >= 0)."""
        return f"{self._usage_prefix}{usage.remaining};t={math.ceil(usage.reset_s)}"

    def policy_item(self, tier: str) -> str:
        return self._policy_items.get(tier) or self._policy_items[DEFAULT_TIER]


def route_class(route: Route, classes: dict[str, str]) -> str:
    """The class a route is in: configured by ``"METHOD /template"`` or ``"/template"``, else
    ``read`` for safe methods and ``write`` for the rest."""
    found = classes.get(f"{route.method} {route.template}") or classes.get(route.template)
    if found:
        return found
    return "read" if route.method in SAFE_METHODS else "write"


def policies_by_route(
    routes: Sequence[Route], cfg: RateLimit
) -> dict[int, tuple[CompiledPolicy, ...]]:
    """For each route (by ``id``), the policies that apply to its class. A ``route_classes``
    entry that names no route is a config error (a typo would silently leave a login
    endpoint on the lenient default class)."""
    known = {f"{r.method} {r.template}" for r in routes} | {r.template for r in routes}
    for entry in cfg.route_classes:
        if entry not in known:
            raise ConfigError(f"rate_limit.route_classes.{entry}", "no route matches it")
    compiled = [
        (CompiledPolicy.of(name, p, cfg.key_prefix), frozenset(p.classes))
        for name, p in cfg.policies.items()
    ]
    by_route: dict[int, tuple[CompiledPolicy, ...]] = {}
    for r in routes:
        cls = route_class(r, cfg.route_classes)
        by_route[id(r)] = tuple(p for p, classes in compiled if not classes or cls in classes)
    return by_route


def known_tiers(policies: Sequence[CompiledPolicy]) -> frozenset[str]:
    """Every tier some policy sets its own limit for; any other tier gets the defaults."""
    return frozenset().union(*(p.tiers for p in policies))


def identity(request: Request, key: str, app: Any) -> str | None:
    """The value a policy's key takes for this request, or None when the request has none
    (an anonymous caller has no user; a user token may have no app): the policy is skipped."""
    if key == "ip":
        return request.client or None
    principal = request.principal
    # An app token's or a partner's subject names the app, not a user: it is the app key.
    kind = getattr(principal, "kind", "user")
    if key == "user":
        if principal is None or kind != "user" or not principal.subject:
            return None
        return principal.subject
    app_id = getattr(app, "client_id", None) if app is not None else None
    if isinstance(app_id, str) and app_id:
        return app_id
    if principal is None:
        return None
    if principal.client_id:
        return principal.client_id
    if kind == "partner":
        partner = str(getattr(principal, "partner_id", "") or "")
        return partner or principal.subject or None
    return principal.subject if kind == "app" and principal.subject else None


def tier_of(app: Any) -> str:
    tier = getattr(app, "tier", None) if app is not None else None
    return tier if isinstance(tier, str) and tier else DEFAULT_TIER
