"""Prometheus metrics of one BFF, in a registry of its own (so a process, or a test, can host
several BFFs without their series colliding).

Labels are bounded: route *templates*, upstream *names*, part names and outcome words; never a
raw path, id or user.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

_LATENCY_BUCKETS = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
)  # fmt: skip


class Metrics:
    """The series every BFF exposes.

    >>> m = Metrics("mobile")
    >>> m.requests.labels("/v1/home", "GET", "200").inc()
    """

    def __init__(self, bff: str) -> None:
        self.bff = bff
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "tailor_requests",
            "Requests answered, by route template, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "tailor_request_duration_seconds",
            "Time from request received to response ready, by route template.",
            ["route"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.errors = Counter(
            "tailor_errors",
            "Responses with status >= 500, by route template and cause.",
            ["route", "cause"],
            registry=self.registry,
        )
        self.upstream_requests = Counter(
            "tailor_upstream_requests",
            "Calls to internal services, by upstream and outcome (ok, status, timeout, ...).",
            ["upstream", "outcome"],
            registry=self.registry,
        )
        self.upstream_latency = Histogram(
            "tailor_upstream_duration_seconds",
            "Duration of calls to internal services, by upstream.",
            ["upstream"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.degraded_parts = Counter(
            "tailor_degraded_parts",
            "Optional parts left out of a response, by route template, part and reason.",
            ["route", "part", "reason"],
            registry=self.registry,
        )
