"""BFF metrics as the dashboard scrapes them: real tailor registries, exposed as Prometheus
text through a mock transport, on a clock the test moves."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, generate_latest

from tailor.cache.metrics import CacheMetrics
from tailor.clients.deprecation import Deprecation
from tailor.clients.usage import ClientUsage
from tailor.dashboard.scrape import Scraper
from tailor.dashboard.view import Board, board
from tailor.errors import UpstreamUnavailable
from tailor.observe.metrics import Metrics
from tailor.resilience.metrics import ResilienceMetrics
from tailor.upstream.mock import MockTransport
from tailor.upstream.transport import UpstreamRequest, UpstreamResponse


class FakeBff:
    """One BFF's registry with the series the dashboard reads."""

    def __init__(self, name: str, deprecations: dict[str, Deprecation] | None = None) -> None:
        self.metrics = Metrics(name)
        registry: CollectorRegistry = self.metrics.registry
        self.resilience = ResilienceMetrics(registry)
        self.cache = CacheMetrics(registry)
        self.denied = Counter("tailor_ratelimit_denied", "", ["policy"], registry=registry)
        self.usage = ClientUsage(top=5, deprecations=deprecations or {})
        registry.register(self.usage)
        self.down = False

    def requests(self, route: str, status: int, count: int, seconds: float = 0.004) -> None:
        series = self.metrics.requests.series(route, "GET", status)
        for _ in range(count):
            series.record(seconds)


class Fleet:
    """BFFs behind a scraper whose clock the test sets."""

    def __init__(self, *names: str, deprecations: dict[str, Deprecation] | None = None) -> None:
        self.bffs = {name: FakeBff(name, deprecations) for name in names}
        self.now = 1000.0
        self.transport = MockTransport(self._answer)
        self.scraper = Scraper(
            {name: f"http://{name}.admin:9000" for name in names},
            keep_s=300.0,
            transport=self.transport,
            clock=lambda: self.now,
        )

    async def _answer(self, request: UpstreamRequest) -> UpstreamResponse:
        bff = self.bffs[request.upstream]
        if bff.down:
            raise UpstreamUnavailable(request.upstream, "connection refused")
        return UpstreamResponse(200, {}, generate_latest(bff.metrics.registry))

    def board(self, windows_s: tuple[float, ...] = (60.0, 300.0)) -> Board:
        return board(
            self.scraper.targets,
            self.scraper.histories,
            windows_s=windows_s,
            objective=0.999,
            refresh_s=1.0,
            now=self.now,
        )

    async def scrape_at(self, now: float) -> None:
        self.now = now
        await self.scraper.scrape()
