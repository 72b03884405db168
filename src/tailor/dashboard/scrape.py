"""Scraping: each BFF's admin ``/metrics``, parsed by prometheus_client, kept for a while.

A :class:`Snapshot` is one scrape of one target: every sample by name and labels. A
:class:`History` keeps a target's snapshots for the longest window the page shows, so rates are
the difference between its newest snapshot and the oldest one inside a window.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families

from tailor.errors import UpstreamError
from tailor.upstream.http1_transport import Http1Transport
from tailor.upstream.transport import Transport, UpstreamRequest

#: A sample's labels, sorted: hashable, and equal for equal label sets.
Labels = tuple[tuple[str, str], ...]


def parse_samples(text: str) -> dict[str, dict[Labels, float]]:
    """Prometheus text as ``{sample name: {labels: value}}``.

    >>> parse_samples('tailor_requests_total{route="/v1/home",status="200"} 3.0\\n')
    {'tailor_requests_total': {(('route', '/v1/home'), ('status', '200')): 3.0}}
    """
    samples: dict[str, dict[Labels, float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = tuple(sorted(sample.labels.items()))
            samples.setdefault(sample.name, {})[labels] = sample.value
    return samples


#: Sample names that add up across a BFF's workers (counters and histograms); any other
#: sample is a gauge, merged by its worst (highest) value: an open breaker in one worker is
#: open, except these, where the lowest is the worst (one worker without Redis is without).
_SUMMED = ("_total", "_bucket", "_count", "_sum")
_WORST_IS_LOWEST = frozenset({"tailor_redis_up"})


def merge_samples(parts: list[dict[str, dict[Labels, float]]]) -> dict[str, dict[Labels, float]]:
    """The samples of one BFF's workers as one: counters and histograms summed, gauges by
    their worst value.

    >>> a = parse_samples('c_total 1\\ng{upstream="u"} 0\\n')
    >>> b = parse_samples('c_total 2\\ng{upstream="u"} 2\\n')
    >>> merge_samples([a, b]) == {"c_total": {(): 3.0}, "g": {(("upstream", "u"),): 2.0}}
    True
    """
    if len(parts) == 1:
        return parts[0]
    merged: dict[str, dict[Labels, float]] = {}
    for part in parts:
        for name, series in part.items():
            into = merged.setdefault(name, {})
            summed = name.endswith(_SUMMED)
            pick = min if name in _WORST_IS_LOWEST else max
            for labels, value in series.items():
                seen = into.get(labels)
                if seen is None:
                    into[labels] = value
                else:
                    into[labels] = seen + value if summed else pick(seen, value)
    return merged


@dataclass(frozen=True)
class Snapshot:
    """One scrape of one target: when (``time.time()``) and what, or why it failed."""

    at: float
    samples: dict[str, dict[Labels, float]] = field(default_factory=dict)
    error: str | None = None

    @property
    def up(self) -> bool:
        return self.error is None

    def series(self, name: str) -> Iterator[tuple[dict[str, str], float]]:
        """Every series of one sample name: its labels and value."""
        for labels, value in self.samples.get(name, {}).items():
            yield dict(labels), value

    def increase(
        self, earlier: Snapshot, name: str, by: Callable[[dict[str, str]], str]
    ) -> dict[str, float]:
        """How much a counter grew since ``earlier``, summed by ``by(labels)`` (series whose key
        is ``""`` are left out). A series that went down restarted (the BFF did): its whole
        value counts, as Prometheus' ``increase`` does."""
        before = earlier.samples.get(name, {})
        grown: dict[str, float] = {}
        for labels, value in self.samples.get(name, {}).items():
            key = by(dict(labels))
            if not key:
                continue
            previous = before.get(labels, 0.0)
            grown[key] = grown.get(key, 0.0) + (value - previous if value >= previous else value)
        return grown


class History:
    """A target's recent snapshots, kept for ``keep_s`` seconds (at least two of them)."""

    def __init__(self, keep_s: float) -> None:
        self.keep_s = keep_s
        self._snapshots: deque[Snapshot] = deque()

    def add(self, snapshot: Snapshot) -> None:
        self._snapshots.append(snapshot)
        while len(self._snapshots) > 2 and self._snapshots[1].at <= snapshot.at - self.keep_s:
            self._snapshots.popleft()

    @property
    def latest(self) -> Snapshot | None:
        return self._snapshots[-1] if self._snapshots else None

    def last_up(self) -> Snapshot | None:
        """The newest snapshot that has samples."""
        return next((s for s in reversed(self._snapshots) if s.up), None)

    def window(self, seconds: float) -> tuple[Snapshot, Snapshot] | None:
        """The oldest and newest successful snapshots within the last ``seconds`` (the oldest
        at or just before the window's start, so a window is never shorter than asked when
        the history allows); None with fewer than two."""
        ups = [s for s in self._snapshots if s.up]
        if len(ups) < 2:
            return None
        newest = ups[-1]
        start = newest.at - seconds
        oldest = ups[0]
        for snapshot in ups[:-1]:
            if snapshot.at > start:
                break
            oldest = snapshot
        return oldest, newest


class Scraper:
    """Scrapes every target's ``/metrics`` into its :class:`History`.

    >>> scraper = Scraper({"mobile": "http://127.0.0.1:8181"}, keep_s=300)
    >>> sorted(scraper.histories)
    ['mobile']
    """

    def __init__(
        self,
        targets: Mapping[str, str],
        *,
        keep_s: float,
        timeout_s: float = 2.0,
        transport: Transport | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.targets = dict(targets)
        self.histories = {name: History(keep_s) for name in self.targets}
        self._timeout_s = timeout_s
        self._transport: Transport = transport or Http1Transport(connect_timeout_s=timeout_s)
        self._clock = clock
        self._running: asyncio.Task[None] | None = None

    async def scrape(self) -> None:
        """Scrape every target once, concurrently; a scrape already under way is joined."""
        if self._running is None or self._running.done():
            self._running = asyncio.ensure_future(self._scrape_all())
        await asyncio.shield(self._running)

    async def fresh(self, max_age_s: float) -> None:
        """Scrape unless every target's latest snapshot is younger than ``max_age_s``."""
        now = self._clock()
        scraped = [h.latest.at if h.latest else 0.0 for h in self.histories.values()]
        if not scraped or min(scraped) <= now - max_age_s:
            await self.scrape()

    async def run(self, interval_s: float) -> None:
        """Scrape every ``interval_s`` until cancelled."""
        while True:
            await self.scrape()
            await asyncio.sleep(interval_s)

    async def aclose(self) -> None:
        await self._transport.aclose()

    async def _scrape_all(self) -> None:
        names = list(self.targets)
        snapshots = await asyncio.gather(*(self._scrape_one(n) for n in names))
        for name, snapshot in zip(names, snapshots, strict=True):
            self.histories[name].add(snapshot)

    async def _scrape_one(self, name: str) -> Snapshot:
        """One BFF: each of its workers' endpoints (``url,url,...``), their samples merged."""
        urls = [u.strip() for u in self.targets[name].split(",")]
        answers = await asyncio.gather(*(self._fetch(name, url) for url in urls))
        errors = [answer for answer in answers if isinstance(answer, str)]
        if errors:
            return Snapshot(self._clock(), error="; ".join(errors))
        return Snapshot(self._clock(), merge_samples([a for a in answers if isinstance(a, dict)]))

    async def _fetch(self, name: str, url: str) -> dict[str, dict[Labels, float]] | str:
        """One endpoint's samples, or why there are none."""
        where = url.rstrip("/") + "/metrics"
        request = UpstreamRequest(name, "GET", where, [], self._timeout_s)
        try:
            response = await self._transport.send(request)
        except UpstreamError as exc:
            return f"{where} unreachable: {exc}"
        if response.status != 200:
            return f"{where} answered {response.status}"
        try:
            return parse_samples(response.body.decode("utf-8", "replace"))
        except ValueError as exc:  # prometheus_client's parser raises ValueError
            return f"{where} unreadable: {exc}"


def label(name: str) -> Callable[[dict[str, str]], str]:
    """A ``by`` for :meth:`Snapshot.increase`: the value of one label."""
    return lambda labels: labels.get(name, "")


def total(labels: dict[str, str]) -> str:
    """A ``by`` that sums every series into one (key ``"all"``)."""
    return "all"
