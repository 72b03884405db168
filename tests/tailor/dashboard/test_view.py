"""The board: what the page shows of each BFF, computed from two scrapes."""

from __future__ import annotations

import datetime

import pytest
from fleet import FakeBff, Fleet
from prometheus_client import Gauge

from tailor.clients.deprecation import Deprecation
from tailor.clients.identity import ClientInfo
from tailor.dashboard.view import BffView, quantile
from tailor.observe.build_info import VERSION_ENV
from tailor.resilience.breaker import BreakerState


async def _mobile(fleet: Fleet) -> BffView:
    (view,) = [v for v in fleet.board().bffs if v.name == "mobile"]
    return view


async def test_route_rate_and_error_ratio_are_over_the_window() -> None:
    fleet = Fleet("mobile")
    mobile = fleet.bffs["mobile"]
    mobile.requests("/v1/home", 200, 500)  # before the window: not counted
    await fleet.scrape_at(1000.0)
    mobile.requests("/v1/home", 200, 90)
    mobile.requests("/v1/home", 502, 10)
    await fleet.scrape_at(1010.0)
    (route,) = (await _mobile(fleet)).routes
    assert (route.route, route.rate, route.error_ratio) == ("/v1/home", 10.0, 0.1)


async def test_route_latency_quantiles_come_from_the_histograms_increase() -> None:
    fleet = Fleet("mobile")
    mobile = fleet.bffs["mobile"]
    mobile.requests("/v1/home", 200, 1000, seconds=2.0)  # before the window
    await fleet.scrape_at(1000.0)
    mobile.requests("/v1/home", 200, 99, seconds=0.004)  # the 0.0025-0.005 bucket
    mobile.requests("/v1/home", 200, 1, seconds=0.3)  # the 0.25-0.5 bucket
    await fleet.scrape_at(1010.0)
    (route,) = (await _mobile(fleet)).routes
    assert route.p50_ms is not None and 2.5 < route.p50_ms <= 5.0
    assert route.p99_ms is not None and route.p99_ms <= 5.0


def test_a_quantile_past_the_last_finite_bucket_is_that_bucket_bound() -> None:
    assert quantile(0.99, {0.1: 0.0, 1.0: 1.0, float("inf"): 10.0}) == 1.0


async def test_an_open_breaker_is_shown_open() -> None:
    fleet = Fleet("mobile")
    breaker = fleet.bffs["mobile"].resilience.breaker_state
    breaker.labels("users").set(BreakerState.CLOSED)
    breaker.labels("recommendations").set(BreakerState.OPEN)
    await fleet.scrape_at(1000.0)
    await fleet.scrape_at(1001.0)
    states = {u.upstream: u.breaker for u in (await _mobile(fleet)).upstreams}
    assert states == {"recommendations": "open", "users": "closed"}


async def test_breakers_are_shown_from_the_first_scrape() -> None:
    fleet = Fleet("mobile")
    fleet.bffs["mobile"].resilience.breaker_state.labels("users").set(BreakerState.HALF_OPEN)
    await fleet.scrape_at(1000.0)
    assert [u.breaker for u in (await _mobile(fleet)).upstreams] == ["half-open"]


async def test_a_bffs_redis_that_stopped_answering_is_shown_down() -> None:
    fleet = Fleet("mobile")
    up = Gauge("tailor_redis_up", "", registry=fleet.bffs["mobile"].metrics.registry)
    up.set(0)
    await fleet.scrape_at(1000.0)
    assert (await _mobile(fleet)).redis_up is False


async def test_a_bff_without_redis_shows_no_redis_state() -> None:
    fleet = Fleet("mobile")
    await fleet.scrape_at(1000.0)
    assert (await _mobile(fleet)).redis_up is None


async def test_upstream_failures_are_the_share_of_calls_not_ok() -> None:
    fleet = Fleet("mobile")
    await fleet.scrape_at(1000.0)
    calls = fleet.bffs["mobile"].metrics.upstream_requests
    calls.labels("users", "ok").inc(3)
    calls.labels("users", "timeout").inc(1)
    await fleet.scrape_at(1002.0)
    (users,) = (await _mobile(fleet)).upstreams
    assert (users.rate, users.error_ratio) == (2.0, 0.25)


async def test_cache_hit_ratio_counts_fresh_and_stale_hits_over_lookups() -> None:
    fleet = Fleet("mobile")
    await fleet.scrape_at(1000.0)
    lookups = fleet.bffs["mobile"].cache.lookups
    lookups.labels("/v1/home", "hit").inc(6)
    lookups.labels("/v1/home", "stale").inc(2)
    lookups.labels("/v1/home", "miss").inc(2)
    lookups.labels("/v1/home", "bypass").inc(90)  # not looked up
    await fleet.scrape_at(1010.0)
    assert (await _mobile(fleet)).cache_hit_ratio == 0.8


async def test_rate_limit_and_shedding_refusals_are_rates() -> None:
    fleet = Fleet("mobile")
    await fleet.scrape_at(1000.0)
    fleet.bffs["mobile"].denied.labels("per-user").inc(20)
    fleet.bffs["mobile"].resilience.shed.labels("overload").inc(5)
    await fleet.scrape_at(1010.0)
    refusals = (await _mobile(fleet)).refusals
    assert (refusals.rate_limited, refusals.shed) == (2.0, 0.5)


async def test_degraded_parts_are_listed_with_route_part_and_reason() -> None:
    fleet = Fleet("mobile")
    await fleet.scrape_at(1000.0)
    fleet.bffs["mobile"].metrics.degraded_parts.labels("/v1/home", "recs", "timeout").inc(10)
    await fleet.scrape_at(1010.0)
    (degraded,) = (await _mobile(fleet)).degraded
    assert (degraded.route, degraded.part, degraded.reason, degraded.rate) == (
        "/v1/home",
        "recs",
        "timeout",
        1.0,
    )


async def test_client_shares_add_up_a_version_across_routes() -> None:
    fleet = Fleet("mobile")
    usage = fleet.bffs["mobile"].usage
    new = ClientInfo("waveform", "ios", "4.2", (4, 2, 0, 0))
    old = ClientInfo("waveform", "ios", "3.9", (3, 9, 0, 0))
    for route, info, times in (("/v1/home", new, 2), ("/v1/feed", new, 1), ("/v1/home", old, 1)):
        for _ in range(times):
            usage.route(route).first(info)
    await fleet.scrape_at(1000.0)
    shares = {c.version: c.share for c in (await _mobile(fleet)).clients}
    assert shares == {"4.2": 0.75, "3.9": 0.25}


async def test_deprecated_routes_show_their_sunset_and_their_call_rate() -> None:
    policy = Deprecation(
        datetime.date(2026, 12, 1), "https://example.com/v2", datetime.date(2027, 3, 1)
    )
    fleet = Fleet("mobile", deprecations={"/v1/old": policy})
    await fleet.scrape_at(1000.0)
    fleet.bffs["mobile"].requests("/v1/old", 200, 30)
    await fleet.scrape_at(1010.0)
    (deprecated,) = (await _mobile(fleet)).deprecations
    assert deprecated.route == "/v1/old"
    assert deprecated.sunset_at == policy.sunset_at
    assert deprecated.rate == 3.0


async def test_slo_burn_is_the_error_ratio_over_the_error_budget() -> None:
    fleet = Fleet("mobile")
    await fleet.scrape_at(1000.0)
    fleet.bffs["mobile"].requests("/v1/home", 200, 990)
    fleet.bffs["mobile"].requests("/v1/home", 503, 10)
    await fleet.scrape_at(1030.0)
    burns = {b.window_s: b.burn for b in (await _mobile(fleet)).slo}
    assert burns == {60.0: 10.0, 300.0: 10.0}  # 1% errors against a 0.1% budget


async def test_a_short_burn_window_sees_only_its_own_errors() -> None:
    fleet = Fleet("mobile")
    await fleet.scrape_at(1000.0)
    fleet.bffs["mobile"].requests("/v1/home", 503, 10)
    await fleet.scrape_at(1050.0)
    fleet.bffs["mobile"].requests("/v1/home", 200, 100)
    await fleet.scrape_at(1130.0)
    burns = {b.window_s: b.burn for b in fleet.board(windows_s=(60.0, 300.0)).bffs[0].slo}
    assert burns[60.0] == 0.0 and burns[300.0] is not None and burns[300.0] > 0


async def test_bffs_on_different_versions_are_skew(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(VERSION_ENV, "1.0.0")
    fleet = Fleet("mobile", "web")
    monkeypatch.setenv(VERSION_ENV, "1.1.0")
    fleet.bffs["web"] = FakeBff("web")  # web restarted on the new build
    await fleet.scrape_at(1000.0)
    board = fleet.board()
    assert board.skew
    assert board.versions == {"1.0.0": ["mobile"], "1.1.0": ["web"]}


async def test_the_bffs_off_the_version_most_run_are_the_skewed_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(VERSION_ENV, "1.0.0")
    fleet = Fleet("mobile", "web", "tv")
    monkeypatch.setenv(VERSION_ENV, "1.1.0")
    fleet.bffs["tv"] = FakeBff("tv")
    await fleet.scrape_at(1000.0)
    assert {v.name: v.skewed for v in fleet.board().bffs} == {
        "mobile": False,
        "web": False,
        "tv": True,
    }


async def test_bffs_on_one_version_are_no_skew(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(VERSION_ENV, "1.0.0")
    fleet = Fleet("mobile", "web")
    await fleet.scrape_at(1000.0)
    assert not fleet.board().skew


async def test_a_bff_that_stopped_answering_is_down_and_left_out_of_the_versions() -> None:
    fleet = Fleet("mobile", "web")
    await fleet.scrape_at(1000.0)
    fleet.bffs["web"].down = True
    await fleet.scrape_at(1001.0)
    board = fleet.board()
    assert [v.up for v in board.bffs] == [True, False]
    assert list(board.versions.values()) == [["mobile"]]
