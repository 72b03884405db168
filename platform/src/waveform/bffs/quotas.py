"""The read quotas every reference BFF meters, as a production edge would: one per user, so a
single account (a scraper, a runaway client) cannot take a BFF's capacity, and one per app by
the app's tier (the entitlements stage sets it), so a free widget cannot crowd out the
first-party apps. Reads answered from the edge cache are charged too: the stage runs before
the cache (docs/rate-limiting.md).

Generous on purpose: a person on an app sends a few reads a second; the load benchmarks override
these with limits no run reaches (``benchmarks/ratelimit/pipeline_cost.py``), so they pay for the
limiter and are never refused.
"""

from __future__ import annotations

from typing import Any

#: Requests per minute, per user and per app tier. Counters are per process with the memory
#: backend (the demo), cluster-wide with ``rate_limit.backend = "redis"``.
READ_QUOTAS: dict[str, dict[str, Any]] = {
    "user-read": {"key": "user", "limit": 1200, "window_s": 60, "classes": ["read"]},
    "app-read": {
        "key": "app",
        "limit": 60_000,  # an app without a known tier
        "window_s": 60,
        "classes": ["read"],
        "tiers": {"free": 6_000, "standard": 60_000, "first-party": 3_000_000},
    },
}

#: Failed authentications per client IP, refused before authenticating once over: generous
#: for carrier NAT, ruinous for a guesser (docs/rate-limiting.md).
AUTH_FAILURES: dict[str, Any] = {"limit": 100, "window_s": 600}
#: Requests to the token endpoint per client IP (password guessing).
SIGN_IN_QUOTA: dict[str, Any] = {"key": "ip", "limit": 60, "window_s": 60, "classes": ["auth"]}
#: Commands per user.
WRITE_QUOTA: dict[str, Any] = {"key": "user", "limit": 120, "window_s": 60, "classes": ["write"]}


def rate_limit(token_route: str | None, *, writes: bool) -> dict[str, Any]:
    """A reference BFF's ``rate_limit`` section: the read quotas, failed authentications per
    IP, the sign-in quota on ``token_route`` (``None``: the BFF signs no one in) and, for a
    BFF that takes commands (``writes``), the per-user write quota.

    >>> sorted(rate_limit("POST /v1/auth/token", writes=False)["policies"])
    ['app-read', 'auth-ip', 'user-read']
    """
    policies: dict[str, dict[str, Any]] = {}
    section: dict[str, Any] = {"auth_failures": dict(AUTH_FAILURES), "policies": policies}
    if token_route is not None:
        section["route_classes"] = {token_route: "auth"}
        policies["auth-ip"] = dict(SIGN_IN_QUOTA)
    if writes:
        policies["user-write"] = dict(WRITE_QUOTA)
    policies.update(READ_QUOTAS)
    return section
