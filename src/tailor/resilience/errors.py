"""Failures the resilience layer raises itself, in tailor's one exception tree::

    UpstreamError
    ├── UpstreamUnavailable
    │   ├── CircuitOpen          the upstream's breaker is open: failed fast, no call made
    │   └── BulkheadFull         too many calls to that upstream in flight: failed fast
    └── FanOutLimitExceeded      one request tried more upstream calls than allowed

``reason`` is what an optional part's degradation entry and the error metrics show.
"""

from __future__ import annotations

from tailor.errors import UpstreamError, UpstreamUnavailable


class CircuitOpen(UpstreamUnavailable):
    """The breaker for ``upstream`` is open; ``retry_after_s`` is what is left of its cool-down."""

    reason = "circuit_open"

    def __init__(self, upstream: str, retry_after_s: float) -> None:
        super().__init__(upstream, "circuit open: failing fast")
        self.retry_after_s = retry_after_s


class BulkheadFull(UpstreamUnavailable):
    reason = "bulkhead_full"

    def __init__(self, upstream: str) -> None:
        super().__init__(upstream, "too many calls in flight: failing fast")


class FanOutLimitExceeded(UpstreamError):
    """A request asked for more upstream calls than ``resilience.max_calls_per_request``. Never
    degraded into a partial answer: a runaway fan-out fails the whole request."""

    reason = "fanout_limit"

    def __init__(self, upstream: str, limit: int) -> None:
        super().__init__(upstream, f"more than {limit} upstream calls in one request")
        self.limit = limit
