"""The resilience series, registered in the BFF's own Prometheus registry.

Labels are bounded: upstream names from config, part names from plans, fixed reason words.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class ResilienceMetrics:
    """
    >>> m = ResilienceMetrics(CollectorRegistry())
    >>> m.retries.labels("users").inc()
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

        def counter(name: str, doc: str, labels: list[str]) -> Counter:
            return Counter(name, doc, labels, registry=registry)

        self.retries = counter(
            "tailor_upstream_retries", "Retry attempts sent, by upstream.", ["upstream"]
        )
        self.hedges = counter(
            "tailor_upstream_hedges", "Hedged second attempts sent, by upstream.", ["upstream"]
        )
        self.budget_exhausted = counter(
            "tailor_retry_budget_exhausted",
            "Retries or hedges not sent because the upstream's retry budget was spent.",
            ["upstream"],
        )
        self.breaker_state = Gauge(
            "tailor_circuit_state",
            "Circuit breaker state by upstream: 0 closed, 1 half-open, 2 open.",
            ["upstream"],
            registry=registry,
        )
        self.breaker_opens = counter(
            "tailor_circuit_opens", "Times the upstream's breaker opened.", ["upstream"]
        )
        self.breaker_rejections = counter(
            "tailor_circuit_rejections",
            "Calls failed fast because the upstream's breaker was open.",
            ["upstream"],
        )
        self.bulkhead_rejections = counter(
            "tailor_bulkhead_rejections",
            "Calls failed fast because too many were in flight to the upstream.",
            ["upstream"],
        )
        self.fanout_limited = counter(
            "tailor_fanout_limited",
            "Requests stopped for asking more upstream calls than allowed, by upstream.",
            ["upstream"],
        )
        self.shed = counter(
            "tailor_shed_requests",
            "Requests answered 503 by load shedding, by reason (overload, queue_estimate, "
            "queue_wait, waited; connection: a new connection turned away at accept).",
            ["reason"],
        )
        # Read when scraped (set_function), never written per request.
        self.shed_limit = Gauge(
            "tailor_shed_limit",
            "Requests load shedding lets run at once now (it follows the event loop's lag).",
            registry=registry,
        )
        self.loop_lag = Gauge(
            "tailor_event_loop_lag_seconds",
            "The event loop's standing lag, as the shed stage last measured it.",
            registry=registry,
        )
        self.stale_served = counter(
            "tailor_stale_parts",
            "Optional parts answered from their last known good value, by part.",
            ["part"],
        )
