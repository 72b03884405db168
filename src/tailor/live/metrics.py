"""The live routes' series on the admin port, read from the :class:`~tailor.live.Live`
counters when scraped (nothing is counted twice on the way of an event)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from tailor.live.endpoint import Live


class LiveCollector(Collector):
    """
    >>> from prometheus_client import CollectorRegistry, generate_latest
    >>> class Counts:
    ...     connections, slow_consumers, dead_peers, gaps, refused = 3, 0, 0, 1, {429: 2}
    ...     class hub: published, delivered, topic_count = 5, 12, 3
    >>> registry = CollectorRegistry()
    >>> registry.register(LiveCollector(Counts()))
    >>> b"tailor_live_connections 3.0" in generate_latest(registry)
    True
    """

    def __init__(self, live: Live) -> None:
        self.live = live

    def collect(self) -> Iterator[Metric]:
        live = self.live
        yield GaugeMetricFamily("tailor_live_connections", "Live connections open now.",
                                value=live.connections)  # fmt: skip
        yield GaugeMetricFamily("tailor_live_topics", "Topics with a live connection listening.",
                                value=live.hub.topic_count)  # fmt: skip
        for name, doc, value in (
            ("tailor_live_events_published", "Events the feed published.", live.hub.published),
            ("tailor_live_deliveries", "Events handed to connections.", live.hub.delivered),
            ("tailor_live_gaps", "Gap markers sent (events dropped).", live.gaps),
            ("tailor_live_slow_consumers", "Connections closed as slow (1013).",
             live.slow_consumers),
            ("tailor_live_dead_peers", "Connections dropped for an unanswered ping.",
             live.dead_peers),
        ):  # fmt: skip
            yield CounterMetricFamily(name, doc, value=value)
        refused = CounterMetricFamily(
            "tailor_live_refused", "Live connections refused before the upgrade.",
            labels=["status"],
        )  # fmt: skip
        for status, count in sorted(live.refused.items()):
            refused.add_metric([str(status)], count)
        yield refused
