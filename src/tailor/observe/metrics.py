"""Prometheus metrics of one BFF, in a registry of its own (so a process, or a test, can host
several BFFs without their series colliding).

Labels are bounded: route *templates*, upstream *names*, part names and outcome words; never a
raw path, id or user.
"""

from __future__ import annotations

import time
from abc import abstractmethod
from bisect import bisect_left
from collections.abc import Iterator
from itertools import accumulate
from typing import Generic, TypeVar

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.metrics_core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from tailor.observe.build_info import register_build_info

_LATENCY_BUCKETS = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
)  # fmt: skip


ChildT = TypeVar("ChildT")


class TallyChild:
    """One labelled series of a :class:`Tally`."""

    __slots__ = ("created", "value")

    def __init__(self) -> None:
        self.value = 0.0
        self.created = time.time()

    def inc(self, amount: float = 1.0) -> None:
        self.value += amount


class _Family(Collector, Generic[ChildT]):
    """A metric family in plain numbers: its labelled series, created on first use."""

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: list[str],
        registry: CollectorRegistry | None = None,
    ) -> None:
        self._name = name
        self._documentation = documentation
        self._labelnames = labelnames
        self._children: dict[tuple[str, ...], ChildT] = {}
        if registry is not None:
            registry.register(self)  # this collects once: a subclass sets its state first

    def labels(self, *values: str) -> ChildT:
        """The series of these label values (keep them bounded, as for any metric)."""
        child = self._children.get(values)
        if child is None:
            if len(values) != len(self._labelnames):
                raise ValueError(f"{self._name}: labels {self._labelnames}, got {values}")
            child = self._children[values] = self._new_child()
        return child

    @abstractmethod
    def _new_child(self) -> ChildT: ...


class Tally(_Family[TallyChild]):
    """A counter family in plain numbers, for series bumped on every request (see
    :class:`RequestMetrics` for why). Exposed exactly as a prometheus_client ``Counter``.

    >>> tally = Tally("tailor_cache_lookups", "Cache lookups.", ["route", "result"])
    >>> tally.labels("/v1/home", "hit").inc()
    """

    def _new_child(self) -> TallyChild:
        return TallyChild()

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(self._name, self._documentation, labels=self._labelnames)
        for values, child in dict(self._children).items():  # copied in one step
            family.add_metric(list(values), child.value, child.created)
        yield family


class HistogramChild:
    """One labelled series of a :class:`Histograms` family."""

    __slots__ = ("_bounds", "buckets", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self._bounds = bounds
        self.buckets = [0] * (len(bounds) + 1)  # the last is +Inf
        self.sum = 0.0

    def observe(self, seconds: float) -> None:
        self.sum += seconds
        self.buckets[bisect_left(self._bounds, seconds)] += 1  # the first bound >= seconds


class Histograms(_Family[HistogramChild]):
    """A histogram family in plain numbers, for series observed on every inward call (see
    :class:`RequestMetrics` for why). Exposed as a prometheus_client ``Histogram`` is
    (``_bucket``, ``_count``, ``_sum``).

    >>> h = Histograms("tailor_upstream_duration_seconds", "Call duration.", ["upstream"])
    >>> h.labels("users").observe(0.003)
    """

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: list[str],
        buckets: tuple[float, ...] = (),
        registry: CollectorRegistry | None = None,
    ) -> None:
        self._bounds = tuple(sorted(buckets or _LATENCY_BUCKETS))
        super().__init__(name, documentation, labelnames, registry)

    def _new_child(self) -> HistogramChild:
        return HistogramChild(self._bounds)

    def collect(self) -> Iterator[Metric]:
        family = HistogramMetricFamily(self._name, self._documentation, labels=self._labelnames)
        les = [*(repr(float(b)) for b in self._bounds), "+Inf"]  # as prometheus_client writes le
        for values, child in dict(self._children).items():  # copied in one step
            cumulative = accumulate(list(child.buckets))
            family.add_metric(list(values), list(zip(les, cumulative, strict=True)), child.sum)
        yield family


class RequestSeries:
    """The requests answered for one (route, method, status), and their route's latency."""

    __slots__ = ("_bounds", "count", "latency")

    def __init__(self, count: TallyChild, latency: HistogramChild) -> None:
        self.count = count
        self.latency = latency
        self._bounds = latency._bounds

    def record(self, seconds: float) -> None:
        self.count.value += 1
        # HistogramChild.observe, inlined: this runs once per request.
        latency = self.latency
        latency.sum += seconds
        latency.buckets[bisect_left(self._bounds, seconds)] += 1


class RequestMetrics(Collector):
    """``tailor_requests_total`` and ``tailor_request_duration_seconds``, kept in plain numbers.

    These two move on every request. prometheus_client's own series take a lock per
    increment and walk the buckets in Python (see docs/benchmarks.md for what that cost);
    here the event loop, the only writer in a worker, adds to ints and floats, and a scrape
    (the admin thread) reads them as they are. As with the library's series, a scrape may
    see a request in the count before it is in the histogram.

    >>> m = RequestMetrics()
    >>> m.series("/v1/home", "GET", 200).record(0.004)
    >>> [s.value for s in next(iter(m.collect())).samples if s.name == "tailor_requests_total"]
    [1.0]
    """

    def __init__(self, buckets: tuple[float, ...] = _LATENCY_BUCKETS) -> None:
        self._count = Tally(
            "tailor_requests",
            "Requests answered, by route template, method and status.",
            ["route", "method", "status"],
        )
        self._latency = Histograms(
            "tailor_request_duration_seconds",
            "Time from request received to response ready, by route template.",
            ["route"],
            buckets,
        )
        #: (route, method, status) -> its series, for every answer seen so far: read directly
        #: on the hot path (a dict lookup, no call); :meth:`series` adds the missing ones.
        self.known: dict[tuple[str, str, int], RequestSeries] = {}

    def series(self, route: str, method: str, status: int) -> RequestSeries:
        """The series of one answer. Bounded: route templates x methods x statuses."""
        key = (route, method, status)
        found = self.known.get(key)
        if found is None:
            found = self.known[key] = RequestSeries(
                self._count.labels(route, method, str(status)), self._latency.labels(route)
            )
        return found

    def collect(self) -> Iterator[Metric]:
        yield from self._count.collect()
        yield from self._latency.collect()


class Metrics:
    """The series every BFF exposes.

    >>> m = Metrics("mobile")
    >>> m.requests.series("/v1/home", "GET", 200).record(0.004)
    """

    def __init__(self, bff: str) -> None:
        self.bff = bff
        self.registry = CollectorRegistry(auto_describe=True)
        register_build_info(self.registry)
        self.requests = RequestMetrics(_LATENCY_BUCKETS)
        self.registry.register(self.requests)
        self.errors = Counter(
            "tailor_errors",
            "Responses with status >= 500, by route template and cause.",
            ["route", "cause"],
            registry=self.registry,
        )
        # Observed on every inward call (six per mobile home): plain numbers, no lock.
        self.upstream_requests = Tally(
            "tailor_upstream_requests",
            "Calls to internal services, by upstream and outcome (ok, status, timeout, ...).",
            ["upstream", "outcome"],
            registry=self.registry,
        )
        self.upstream_latency = Histograms(
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
