"""One BFF's resilience state: per-upstream guards (breaker, retry budget, bulkhead), the
last-known-good store and the metrics. Built once at startup, shared by every endpoint."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry

from tailor.errors import ConfigError
from tailor.resilience.breaker import BreakerState, CircuitBreaker
from tailor.resilience.budget import RetryBudget
from tailor.resilience.bulkhead import Bulkhead
from tailor.resilience.lastgood import LastKnownGood
from tailor.resilience.metrics import ResilienceMetrics
from tailor.resilience.settings import ResilienceSettings, UpstreamPolicy, status_set
from tailor.resilience.window import Clock


@dataclass
class UpstreamGuards:
    """Everything shared by all calls to one upstream."""

    policy: UpstreamPolicy
    breaker: CircuitBreaker
    budget: RetryBudget
    bulkhead: Bulkhead
    #: ``policy.failure_statuses`` and ``policy.retry.statuses`` as sets of codes
    failing: frozenset[int]
    retrying: frozenset[int]


class Resilience:
    """
    >>> r = Resilience(ResilienceSettings(), ["users"], CollectorRegistry())
    >>> r.guards("users").breaker.state
    <BreakerState.CLOSED: 0>
    """

    def __init__(
        self,
        settings: ResilienceSettings,
        upstreams: Iterable[str],
        registry: CollectorRegistry | None = None,
        *,
        clock: Clock = time.monotonic,
    ) -> None:
        names = set(upstreams)
        for name in settings.upstreams:
            if name not in names:
                raise ConfigError(f"resilience.upstreams.{name}", "no upstream with this name")
        self.settings = settings
        self.metrics = ResilienceMetrics(registry or CollectorRegistry())
        self.last_good = LastKnownGood(
            max_entries=settings.last_good.max_entries,
            max_age_s=settings.last_good.max_age_s,
            clock=clock,
        )
        self._clock = clock
        self._guards: dict[str, UpstreamGuards] = {}
        for name in sorted(names):
            self.guards(name)

    def guards(self, upstream: str) -> UpstreamGuards:
        found = self._guards.get(upstream)
        if found is None:
            policy = self.settings.policy_for(upstream)
            found = self._guards[upstream] = UpstreamGuards(
                policy,
                CircuitBreaker(
                    upstream, policy.breaker, clock=self._clock, on_change=self._breaker_changed
                ),
                RetryBudget(ratio=policy.retry.budget_ratio, burst=policy.retry.budget_burst),
                Bulkhead(
                    upstream,
                    max_concurrent=policy.bulkhead.max_concurrent,
                    max_wait_s=policy.bulkhead.max_wait_s,
                ),
                status_set(policy.failure_statuses),
                status_set(policy.retry.statuses),
            )
            self.metrics.breaker_state.labels(upstream).set(BreakerState.CLOSED)
        return found

    def _breaker_changed(self, upstream: str, state: BreakerState) -> None:
        self.metrics.breaker_state.labels(upstream).set(state)
        if state is BreakerState.OPEN:
            self.metrics.breaker_opens.labels(upstream).inc()
