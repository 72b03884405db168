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

import re
from typing import Any

import msgspec

from tailor.errors import ConfigError

MAX_ATTEMPTS = 3  # the ceiling: more attempts multiply load for little gain


class RetrySettings(msgspec.Struct, forbid_unknown_fields=True):
    max_attempts: int = 3
    backoff_base_s: float = 0.025
    backoff_max_s: float = 0.25
    budget_ratio: float = 0.2  # Envoy's retry budget default: retries <= 20% of calls
    budget_min_retries: int = 3  # so a quiet upstream can still retry a rare failure
    budget_window_s: float = 10.0

    def __post_init__(self) -> None:
        if not 1 <= self.max_attempts <= MAX_ATTEMPTS:
            raise ValueError(f"max_attempts must be between 1 and {MAX_ATTEMPTS}")
        if not 0 <= self.budget_ratio <= 1:
            raise ValueError("budget_ratio must be between 0 and 1")
        if self.budget_min_retries < 0:
            raise ValueError("budget_min_retries must be zero or more")
        _positive(self, "backoff_base_s", "backoff_max_s", "budget_window_s")


class BreakerSettings(msgspec.Struct, forbid_unknown_fields=True):
    enabled: bool = True
    failure_rate: float = 0.5
    min_calls: int = 20
    window_s: float = 10.0
    cool_down_s: float = 5.0
    half_open_probes: int = 1

    def __post_init__(self) -> None:
        if not 0 < self.failure_rate <= 1:
            raise ValueError("failure_rate must be in (0, 1]")
        if self.min_calls < 1:
            raise ValueError("min_calls must be at least 1")
        if self.half_open_probes < 1:
            raise ValueError("half_open_probes must be at least 1")
        _positive(self, "window_s", "cool_down_s")


class BulkheadSettings(msgspec.Struct, forbid_unknown_fields=True):
    max_concurrent: int = 256
    max_wait_s: float = 0.01

    def __post_init__(self) -> None:
        if self.max_concurrent < 1:
            raise ValueError("max_concurrent must be at least 1")
        if self.max_wait_s < 0:
            raise ValueError("max_wait_s must be zero or more")


class UpstreamPolicy(msgspec.Struct, forbid_unknown_fields=True):
    """Everything the resilient transport applies to calls to one upstream."""

    retry: RetrySettings = msgspec.field(default_factory=RetrySettings)
    breaker: BreakerSettings = msgspec.field(default_factory=BreakerSettings)
    bulkhead: BulkheadSettings = msgspec.field(default_factory=BulkheadSettings)
    hedge_after_s: float | None = None  # None: no hedging
    idempotent_methods: list[str] = msgspec.field(default_factory=lambda: ["GET", "HEAD"])
    failure_statuses: list[int] = msgspec.field(default_factory=lambda: [502, 503, 504])

    def __post_init__(self) -> None:
        if self.hedge_after_s is not None and self.hedge_after_s <= 0:
            raise ValueError("hedge_after_s must be positive (or absent: no hedging)")
        self.idempotent_methods = [m.upper() for m in self.idempotent_methods]
        for status in self.failure_statuses:
            if not 500 <= status <= 599:
                raise ValueError("failure_statuses must be 5xx statuses")


class ShedSettings(msgspec.Struct, forbid_unknown_fields=True):
    """Edge load shedding (off unless enabled): at most ``max_in_flight`` requests in this
    process; one over it waits for a slot only if the wait looks shorter than
    ``max_queue_wait_s``, else it is answered 503 with ``Retry-After`` at once."""

    enabled: bool = False  # a BFF's profile switches it on (both waveform BFFs do)
    max_in_flight: int = 512
    max_queue_wait_s: float = 0.05
    retry_after_s: int = 1

    def __post_init__(self) -> None:
        if self.max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        if self.max_queue_wait_s < 0:
            raise ValueError("max_queue_wait_s must be zero or more")
        if self.retry_after_s < 0:
            raise ValueError("retry_after_s must be zero or more")


class LastGoodSettings(msgspec.Struct, forbid_unknown_fields=True):
    """The in-memory LRU of last-known-good part values (per part and cache scope)."""

    max_entries: int = 10_000
    max_age_s: float = 600.0

    def __post_init__(self) -> None:
        if self.max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        _positive(self, "max_age_s")


class ResilienceSettings(msgspec.Struct, forbid_unknown_fields=True):
    default: UpstreamPolicy = msgspec.field(default_factory=UpstreamPolicy)
    upstreams: dict[str, dict[str, Any]] = msgspec.field(default_factory=dict)
    shed: ShedSettings = msgspec.field(default_factory=ShedSettings)
    last_good: LastGoodSettings = msgspec.field(default_factory=LastGoodSettings)
    max_calls_per_request: int = 32
    max_page_size: int = 100

    def __post_init__(self) -> None:
        if self.max_calls_per_request < 1:
            raise ValueError("max_calls_per_request must be at least 1")
        if self.max_page_size < 1:
            raise ValueError("max_page_size must be at least 1")
        for name in self.upstreams:
            self.policy_for(name)  # an override that does not validate stops startup here

    def policy_for(self, upstream: str) -> UpstreamPolicy:
        """The default policy with ``upstreams.<upstream>`` merged over it."""
        override = self.upstreams.get(upstream)
        if not override:
            return self.default
        merged = _merge(msgspec.to_builtins(self.default), override)
        try:
            return msgspec.convert(merged, UpstreamPolicy)
        except msgspec.ValidationError as exc:
            raise ConfigError(_key(f"resilience.upstreams.{upstream}", str(exc)), str(exc)) from exc


_AT = re.compile(r"at `\$\.?([^`]*)`")
_CHECKED = re.compile(r"^([a-z_]+) must\b")


def _key(prefix: str, message: str) -> str:
    """The full key a nested validation message points at."""
    match = _AT.search(message)
    inner = match.group(1) if match else ""
    field = re.search(r"(?:unknown|missing required) field `([^`]+)`", message)
    checked = _CHECKED.match(message)
    if field:
        inner = f"{inner}.{field.group(1)}" if inner else field.group(1)
    elif checked:
        inner = f"{inner}.{checked.group(1)}" if inner else checked.group(1)
    return f"{prefix}.{inner}" if inner else prefix


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _positive(section: object, *keys: str) -> None:
    for key in keys:
        if getattr(section, key) <= 0:
            raise ValueError(f"{key} must be positive")
