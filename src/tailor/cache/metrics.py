"""The cache's series, in the BFF's own registry. Labels are bounded: route templates,
result words, backend names, operation names."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

from tailor.observe.metrics import Tally


class CacheMetrics:
    """
    >>> m = CacheMetrics(CollectorRegistry())
    >>> m.lookups.labels("/v1/home", "hit").inc()
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        # Bumped on every cacheable request: plain numbers, no lock (see Tally).
        self.lookups = Tally(
            "tailor_cache_lookups",
            "Cacheable requests by route template and result (hit, miss, stale, coalesced, "
            "bypass).",
            ["route", "result"],
            registry=registry,
        )
        self.stores = Counter(
            "tailor_cache_stores",
            "Responses considered for storing, by route and outcome (stored, degraded, "
            "uncacheable, raced).",
            ["route", "outcome"],
            registry=registry,
        )
        self.upstream_fetches = Counter(
            "tailor_cache_fills",
            "Times the handler ran to fill or refresh an entry, by route and kind (miss, refresh).",
            ["route", "kind"],
            registry=registry,
        )
        self.backend_errors = Counter(
            "tailor_cache_backend_errors",
            "Cache backend failures (answered from the upstreams instead), by backend and "
            "operation.",
            ["backend", "op"],
            registry=registry,
        )
        self.events = Counter(
            "tailor_cache_invalidation_events",
            "Invalidation events by outcome (applied, malformed, failed).",
            ["outcome"],
            registry=registry,
        )
        self.purged = Counter(
            "tailor_cache_purged_entries",
            "Entries purged by invalidation events, by backend.",
            ["backend"],
            registry=registry,
        )
        self.subscriber = Counter(
            "tailor_cache_invalidation_connects",
            "Invalidation subscriber connections, by outcome (connected, lost).",
            ["outcome"],
            registry=registry,
        )
