"""Calls per route and client, for the admin ``/metrics`` endpoint, bounded.

The hot path adds one to a plain int per (route, client); a scrape (the admin thread) groups
them as ``tailor_client_requests_total{route, app, platform, version}``. Per route, app and
platform only the ``top`` busiest versions get a label of their own; the others are summed
under ``version="other"``, so a client sending made-up versions cannot grow the series. (When
a version climbs into the top, its series starts at its whole count and ``other`` drops by
as much: read the family by ``sum`` over versions, or with ``sunset-check``.) The deprecated
routes' dates and thresholds are exported beside it, so ``python -m tailor.govern
sunset-check`` needs nothing but the metrics endpoint.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from tailor.clients.deprecation import Deprecation
from tailor.clients.identity import ClientInfo

REQUESTS = "tailor_client_requests"
DEPRECATED = "tailor_route_deprecation_timestamp_seconds"
SUNSET = "tailor_route_sunset_timestamp_seconds"
MAX_SHARE = "tailor_route_sunset_max_share"
OTHER = "other"
#: Distinct clients counted per route; more are summed under one "other" entry (a client
#: list is renewed when the identifier's memory starts again, see identity.MAX_KNOWN).
MAX_TRACKED = 4096
_OVERFLOW = ClientInfo(OTHER, OTHER, OTHER, None)


class RouteUsage:
    """The calls to one route, per client: ``counts`` is written on the hot path."""

    __slots__ = ("counts",)

    def __init__(self) -> None:
        self.counts: dict[ClientInfo, int] = {}

    def first(self, info: ClientInfo) -> None:
        """Count a client not seen on this route yet."""
        counts = self.counts
        if len(counts) >= MAX_TRACKED:
            info = _OVERFLOW
        counts[info] = counts.get(info, 0) + 1


class ClientUsage(Collector):
    """The collector of one BFF's client usage and deprecations.

    >>> usage = ClientUsage(top=1, deprecations={})
    >>> usage.route("/v1/home").first(ClientInfo("waveform", "ios", "4.1", (4, 1, 0, 0)))
    >>> [s.labels["version"] for s in next(iter(usage.collect())).samples]
    ['4.1']
    """

    def __init__(self, top: int, deprecations: dict[str, Deprecation]) -> None:
        self._top = top
        self._deprecations = deprecations
        self._routes: dict[str, RouteUsage] = {}

    def route(self, template: str) -> RouteUsage:
        """The usage of one route (made once, when the chain is built)."""
        return self._routes.setdefault(template, RouteUsage())

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            REQUESTS,
            "Requests per route template and client app, platform and version (the busiest "
            "versions by name, the rest as 'other').",
            labels=["route", "app", "platform", "version"],
        )
        for template, usage in list(self._routes.items()):
            for labels, count in self._grouped(dict(usage.counts)):  # copied in one step
                family.add_metric([template, *labels], count)
        yield family
        yield from self._deprecation_families()

    def _grouped(self, counts: dict[ClientInfo, int]) -> Iterator[tuple[list[str], int]]:
        by_client: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for info, count in counts.items():
            by_client[info.app, info.platform][info.version] += count
        for (app, platform), versions in sorted(by_client.items()):
            ranked = sorted(versions.items(), key=lambda item: (-item[1], item[0]))
            rest = sum(count for _, count in ranked[self._top :])
            for version, count in ranked[: self._top]:
                yield [app, platform, version], count
            if rest:
                yield [app, platform, OTHER], rest

    def _deprecation_families(self) -> Iterator[Metric]:
        deprecated = GaugeMetricFamily(
            DEPRECATED, "When a deprecated route was deprecated (Unix time).", labels=["route"]
        )
        sunset = GaugeMetricFamily(
            SUNSET, "When a deprecated route stops answering (Unix time).", labels=["route"]
        )
        share = GaugeMetricFamily(
            MAX_SHARE,
            "The share of calls above which sunset-check refuses a route's sunset.",
            labels=["route"],
        )
        for template, policy in self._deprecations.items():
            deprecated.add_metric([template], policy.deprecated_at)
            if policy.sunset_at is not None:
                sunset.add_metric([template], policy.sunset_at)
            share.add_metric([template], policy.max_share_at_sunset)
        yield from (deprecated, sunset, share)
