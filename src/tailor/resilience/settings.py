"""The ``resilience`` section of a BFF's config.

Policies per upstream: ``resilience.default`` applies to every upstream, and
``resilience.upstreams.<name>`` overrides any of its keys for one upstream (deep-merged, so an
override names only what differs)::

    [resilience.default.breaker]
    cool_down_s = 5.0

    [resilience.upstreams.recommendations]
    hedge_after_s = 0.1
    breaker = { min_calls = 10 }

A BFF's profile sets its own (the mobile profile keeps last-known-good content longer than the
web one); a deployment file overrides the profile.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from tailor.validation import Count, NonNegative, Positive, convert, deep_merge

MAX_ATTEMPTS = 3  # the ceiling: more attempts multiply load for little gain


class RetrySettings(msgspec.Struct, forbid_unknown_fields=True):
    max_attempts: Annotated[int, msgspec.Meta(ge=1, le=MAX_ATTEMPTS)] = 3
    backoff_base_s: Positive = 0.025
    backoff_max_s: Positive = 0.25
    # Envoy's retry budget default: retries <= 20% of calls
    budget_ratio: Annotated[float, msgspec.Meta(ge=0, le=1)] = 0.2
    # so a quiet upstream can still retry a rare failure
    budget_min_retries: Annotated[int, msgspec.Meta(ge=0)] = 3
    budget_window_s: Positive = 10.0


class BreakerSettings(msgspec.Struct, forbid_unknown_fields=True):
    enabled: bool = True
    failure_rate: Annotated[float, msgspec.Meta(gt=0, le=1)] = 0.5
    min_calls: Count = 20
    window_s: Positive = 10.0
    cool_down_s: Positive = 5.0
    half_open_probes: Count = 1


class BulkheadSettings(msgspec.Struct, forbid_unknown_fields=True):
    max_concurrent: Count = 256
    max_wait_s: NonNegative = 0.01


class UpstreamPolicy(msgspec.Struct, forbid_unknown_fields=True):
    """Everything the resilient transport applies to calls to one upstream."""

    retry: RetrySettings = msgspec.field(default_factory=RetrySettings)
    breaker: BreakerSettings = msgspec.field(default_factory=BreakerSettings)
    bulkhead: BulkheadSettings = msgspec.field(default_factory=BulkheadSettings)
    hedge_after_s: Positive | None = None  # None: no hedging
    idempotent_methods: list[str] = msgspec.field(default_factory=lambda: ["GET", "HEAD"])
    failure_statuses: list[Annotated[int, msgspec.Meta(ge=500, le=599)]] = msgspec.field(
        default_factory=lambda: [502, 503, 504]
    )

    def __post_init__(self) -> None:
        self.idempotent_methods = [m.upper() for m in self.idempotent_methods]


class ShedSettings(msgspec.Struct, forbid_unknown_fields=True):
    """Edge load shedding (off unless enabled): at most ``max_in_flight`` requests in this
    process; one over it waits for a slot only if the wait looks shorter than
    ``max_queue_wait_s``, else it is answered 503 with ``Retry-After`` at once."""

    enabled: bool = False  # a BFF's profile switches it on (both waveform BFFs do)
    max_in_flight: Count = 512
    max_queue_wait_s: NonNegative = 0.05
    retry_after_s: Annotated[int, msgspec.Meta(ge=0)] = 1


class LastGoodSettings(msgspec.Struct, forbid_unknown_fields=True):
    """The in-memory LRU of last-known-good part values (per part and cache scope)."""

    max_entries: Count = 10_000
    max_age_s: Positive = 600.0


class ResilienceSettings(msgspec.Struct, forbid_unknown_fields=True):
    default: UpstreamPolicy = msgspec.field(default_factory=UpstreamPolicy)
    upstreams: dict[str, dict[str, Any]] = msgspec.field(default_factory=dict)
    shed: ShedSettings = msgspec.field(default_factory=ShedSettings)
    last_good: LastGoodSettings = msgspec.field(default_factory=LastGoodSettings)
    max_calls_per_request: Count = 32
    max_page_size: Count = 100

    def __post_init__(self) -> None:
        for name in self.upstreams:
            self.policy_for(name)  # an override that does not validate stops startup here

    def policy_for(self, upstream: str) -> UpstreamPolicy:
        """The default policy with ``upstreams.<upstream>`` merged over it."""
        override = self.upstreams.get(upstream)
        if not override:
            return self.default
        merged = deep_merge(msgspec.to_builtins(self.default), override)
        return convert(merged, UpstreamPolicy, at=f"resilience.upstreams.{upstream}")
