"""Scraping: each BFF's metrics parsed and kept as a short history."""

from __future__ import annotations

from fleet import Fleet

from tailor.dashboard.scrape import History, Scraper, Snapshot, label, parse_samples
from tailor.errors import UpstreamUnavailable
from tailor.upstream.mock import MockTransport
from tailor.upstream.transport import UpstreamRequest, UpstreamResponse


def test_parsed_samples_are_kept_by_name_and_sorted_labels() -> None:
    text = 'tailor_circuit_state{upstream="users"} 2.0\n'
    assert parse_samples(text) == {"tailor_circuit_state": {(("upstream", "users"),): 2.0}}


async def test_a_scrape_fetches_each_targets_metrics_path() -> None:
    fleet = Fleet("mobile", "web")
    await fleet.scrape_at(1000.0)
    assert sorted(r.url for r in fleet.transport.requests) == [
        "http://mobile.admin:9000/metrics",
        "http://web.admin:9000/metrics",
    ]


async def test_an_unreachable_target_is_down_with_the_reason() -> None:
    fleet = Fleet("mobile")
    fleet.bffs["mobile"].down = True
    await fleet.scrape_at(1000.0)
    latest = fleet.scraper.histories["mobile"].latest
    assert latest is not None and not latest.up
    assert "connection refused" in (latest.error or "")


async def test_a_target_answering_an_error_status_is_down_naming_it() -> None:
    async def answer(request: UpstreamRequest) -> UpstreamResponse:
        return UpstreamResponse(503, {}, b"")

    scraper = Scraper({"mobile": "http://m:1"}, keep_s=60, transport=MockTransport(answer))
    await scraper.scrape()
    latest = scraper.histories["mobile"].latest
    assert latest is not None and latest.error == "http://m:1/metrics answered 503"


def test_a_counter_that_went_down_is_counted_as_restarted() -> None:
    before = Snapshot(0.0, parse_samples('c_total{route="/a"} 50\n'))
    after = Snapshot(10.0, parse_samples('c_total{route="/a"} 7\n'))
    assert after.increase(before, "c_total", label("route")) == {"/a": 7.0}


def test_history_forgets_snapshots_older_than_it_keeps() -> None:
    history = History(keep_s=10.0)
    for at in (0.0, 5.0, 10.0, 15.0, 20.0):
        history.add(Snapshot(at))
    window = history.window(1000.0)
    assert window is not None and window[0].at == 10.0


def test_a_window_starts_at_the_last_snapshot_before_its_start() -> None:
    history = History(keep_s=100.0)
    for at in (0.0, 10.0, 20.0, 30.0):
        history.add(Snapshot(at))
    window = history.window(15.0)
    assert window is not None and (window[0].at, window[1].at) == (10.0, 30.0)


def test_a_window_skips_failed_scrapes() -> None:
    history = History(keep_s=100.0)
    history.add(Snapshot(0.0))
    history.add(Snapshot(10.0))
    history.add(Snapshot(20.0, error="unreachable"))
    window = history.window(60.0)
    assert window is not None and window[1].at == 10.0


async def test_fresh_does_not_scrape_again_while_the_last_scrape_is_young() -> None:
    fleet = Fleet("mobile")
    await fleet.scrape_at(1000.0)
    fleet.now = 1000.5
    await fleet.scraper.fresh(max_age_s=1.0)
    assert len(fleet.transport.requests) == 1


async def test_fresh_scrapes_once_the_last_scrape_is_old() -> None:
    fleet = Fleet("mobile")
    await fleet.scrape_at(1000.0)
    fleet.now = 1002.0
    await fleet.scraper.fresh(max_age_s=1.0)
    assert len(fleet.transport.requests) == 2


def _workers(answers: dict[str, str | None]) -> Scraper:
    """A BFF whose workers answer these metrics texts by admin URL (None: unreachable)."""

    async def answer(request: UpstreamRequest) -> UpstreamResponse:
        text = answers[request.url.removesuffix("/metrics")]
        if text is None:
            raise UpstreamUnavailable(request.upstream, "connection refused")
        return UpstreamResponse(200, {}, text.encode())

    return Scraper({"mobile": ",".join(answers)}, keep_s=60, transport=MockTransport(answer))


async def test_a_bffs_workers_counters_are_summed() -> None:
    scraper = _workers(
        {"http://w:1": 'c_total{route="/a"} 2\n', "http://w:2": 'c_total{route="/a"} 3\n'}
    )
    await scraper.scrape()
    latest = scraper.histories["mobile"].latest
    assert latest is not None and latest.samples["c_total"] == {(("route", "/a"),): 5.0}


async def test_a_breaker_open_in_one_worker_is_open_for_the_bff() -> None:
    open_, closed = (
        'tailor_circuit_state{upstream="u"} 2\n',
        'tailor_circuit_state{upstream="u"} 0\n',
    )
    scraper = _workers({"http://w:1": closed, "http://w:2": open_})
    await scraper.scrape()
    latest = scraper.histories["mobile"].latest
    assert latest is not None
    assert latest.samples["tailor_circuit_state"] == {(("upstream", "u"),): 2.0}


async def test_one_unreachable_worker_marks_the_bff_down_naming_it() -> None:
    scraper = _workers({"http://w:1": "c_total 1\n", "http://w:2": None})
    await scraper.scrape()
    latest = scraper.histories["mobile"].latest
    assert latest is not None and not latest.up
    assert (latest.error or "").startswith("http://w:2/metrics unreachable")
