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

#: One entry of a list of upstream statuses: a 5xx code, or an inclusive range ("500-599").
StatusEntry = (
    Annotated[int, msgspec.Meta(ge=500, le=599)]
    | Annotated[str, msgspec.Meta(pattern=r"^5\d\d-5\d\d$")]
)


def status_set(entries: list[int | str]) -> frozenset[int]:
    """The codes a list of :data:`StatusEntry` names.

    >>> sorted(status_set([500, "502-504"]))
    [500, 502, 503, 504]
    """
    codes: set[int] = set()
    for entry in entries:
        if isinstance(entry, int):
            codes.add(entry)
        else:
            low, high = (int(code) for code in entry.split("-"))
            codes.update(range(low, high + 1))
    return frozenset(codes)


def _check_ranges(field: str, entries: list[int | str]) -> None:
    for entry in entries:
        if isinstance(entry, str) and entry[:3] > entry[4:]:
            raise ValueError(f"{field} holds a range that runs backwards: {entry!r}")


class RetrySettings(msgspec.Struct, forbid_unknown_fields=True):
    max_attempts: Annotated[int, msgspec.Meta(ge=1, le=MAX_ATTEMPTS)] = 3
    backoff_base_s: Positive = 0.025
    backoff_max_s: Positive = 0.25
    # The gateway statuses that say "not now"; a 500 is an answer that a retry would repeat.
    statuses: list[StatusEntry] = msgspec.field(default_factory=lambda: [502, 503, 504])
    # Envoy's retry budget default: retries <= 20% of calls
    budget_ratio: Annotated[float, msgspec.Meta(ge=0, le=1)] = 0.2
    # Retries the budget holds in reserve beyond the ratio: what a quiet upstream can retry,
    # and all that healthy traffic can save up for the first second of an outage.
    budget_burst: Count = 1

    def __post_init__(self) -> None:
        _check_ranges("statuses", self.statuses)


class BreakerSettings(msgspec.Struct, forbid_unknown_fields=True):
    enabled: bool = True
    failure_rate: Annotated[float, msgspec.Meta(gt=0, le=1)] = 0.5
    min_calls: Count = 20
    window_s: Positive = 10.0
    # Opens after this many failures in a row whatever the window holds, so an outage after
    # healthy traffic opens it within a few calls (Envoy's outlier detection: 5); 0 turns it off.
    consecutive_failures: Annotated[int, msgspec.Meta(ge=0)] = 5
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
    # What the breaker counts as a failure, besides transport errors: any 5xx by default.
    failure_statuses: list[StatusEntry] = msgspec.field(default_factory=lambda: ["500-599"])

    def __post_init__(self) -> None:
        self.idempotent_methods = [m.upper() for m in self.idempotent_methods]
        _check_ranges("failure_statuses", self.failure_statuses)
        if not status_set(self.retry.statuses) <= status_set(self.failure_statuses):
            # A retried status the breaker did not count would hide an outage from it.
            raise ValueError("failure_statuses must hold every status in retry.statuses")


class ShedSettings(msgspec.Struct, forbid_unknown_fields=True):
    """Edge load shedding (off unless enabled): at most ``max_in_flight`` requests in this
    process; one over it waits for a slot only if the wait looks shorter than
    ``max_queue_wait_s``, else it is answered 503 with ``Retry-After`` at once; so is one that
    reaches the stage more than ``max_wait_s`` after the server read it. The cap shrinks
    while the event loop lags more than ``target_lag_s``."""

    enabled: bool = False  # a BFF's profile switches it on (both waveform BFFs do)
    max_in_flight: Count = 512
    max_queue_wait_s: NonNegative = 0.05
    # Half of a typical 1 s endpoint deadline: a request that already waited this long would
    # mostly be answered after its client gave up.
    max_wait_s: Positive = 0.5
    # The cap shrinks while the event loop runs later than this (tailor.resilience.looplag);
    # 0 keeps it fixed at max_in_flight.
    target_lag_s: NonNegative = 0.01
    # ... but a cap at max_in_flight starts to shrink only after the loop has been late this
    # long in a row: a stall's backlog is not an overload (tailor.resilience.looplag).
    lag_window_s: NonNegative = 1.0
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
