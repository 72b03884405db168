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
