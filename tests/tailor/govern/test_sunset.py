"""sunset-check: calls per client version to a deprecated route, read from the BFF's admin
/metrics; a sunset is refused while the route's share of calls is above the threshold its
deprecation configures, and never allowed before the deprecation date."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from harness import call

from tailor import BFF, Request, Response, json_response
from tailor.govern import sunset
from tailor.govern.__main__ import main as govern

DEPRECATION = {
    "deprecated": "2026-12-01",
    "sunset": "2099-06-30",
    "link": "https://developers.example.com/v2",
    "max_share_at_sunset": 0.25,
}


def scrape(calls: dict[tuple[str, str], int]) -> sunset.Scrape:
    """What a BFF's metrics say after ``calls`` ((route, version) -> count)."""
    lines = [
        'tailor_route_deprecation_timestamp_seconds{route="/v1/home"} 1796083200',
        'tailor_route_sunset_timestamp_seconds{route="/v1/home"} 4086460800',
        'tailor_route_sunset_max_share{route="/v1/home"} 0.25',
        "# TYPE tailor_client_requests_total counter",
    ]
    for (route, version), n in calls.items():
        labels = f'route="{route}",app="waveform",platform="ios",version="{version}"'
        lines.append(f"tailor_client_requests_total{{{labels}}} {n}")
    usage = sunset.Scrape()
    usage.add("\n".join(lines) + "\n")
    return usage


def test_a_sunset_is_refused_while_the_route_share_is_above_the_threshold() -> None:
    verdict = sunset.check(
        scrape({("/v1/home", "3.1"): 30, ("/v2/home", "4.0"): 70}), "/v1/home", None
    )
    assert not verdict.allowed
    assert "REFUSED: sunset 2099-06-30" in verdict.lines[-1]


def test_a_sunset_is_allowed_once_the_route_share_is_at_or_below_the_threshold() -> None:
    verdict = sunset.check(
        scrape({("/v1/home", "3.1"): 25, ("/v2/home", "4.0"): 75}), "/v1/home", None
    )
    assert verdict.allowed


def test_the_report_lists_calls_per_client_version_busiest_first() -> None:
    usage = scrape({("/v1/home", "3.1"): 2, ("/v1/home", "3.3"): 6, ("/v2/home", "4.0"): 92})
    lines = sunset.check(usage, "/v1/home", None).lines
    rows = [line.split() for line in lines if line.startswith("  waveform")]
    assert [(row[2], row[3]) for row in rows] == [("3.3", "6"), ("3.1", "2")]


def test_a_window_counts_only_the_calls_made_during_it() -> None:
    before = scrape({("/v1/home", "3.1"): 90, ("/v2/home", "4.0"): 10})
    after = scrape({("/v1/home", "3.1"): 91, ("/v2/home", "4.0"): 109})
    assert sunset.check(after.since(before), "/v1/home", None).allowed  # 1 of 100


def test_a_proposed_sunset_before_the_deprecation_date_is_not_checked() -> None:
    with pytest.raises(ValueError, match="must not be before"):
        sunset.check(scrape({}), "/v1/home", datetime.date(2026, 11, 30))


def test_a_route_that_is_not_deprecated_is_not_checked() -> None:
    with pytest.raises(LookupError):
        sunset.check(scrape({}), "/v2/home", None)


@pytest.fixture
async def served(make_bff: Any) -> BFF:
    """A BFF with its admin listener up, /v1/home deprecated, after 1 call to v1 and 9 to v2."""
    bff: BFF = make_bff(
        {"clients": {"source": "header", "deprecations": {"/v1/home": DEPRECATION}}}
    )
    for path in ("/v1/home", "/v2/home"):

        @bff.get(path, auth=False)
        async def home(request: Request) -> Response:
            return json_response({})

    bff.startup()
    for path, version in [("/v1/home", "3.1")] + [("/v2/home", "4.0")] * 9:
        await call(bff, "GET", path, headers={"x-client-version": version})
    return bff


async def test_the_command_reads_a_running_bff_and_allows_a_sunset_below_the_threshold(
    served: BFF, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"http://127.0.0.1:{served.admin_port}/metrics"
    status = govern(["sunset-check", "--route", "/v1/home", "--metrics", url])
    out = capsys.readouterr().out
    assert status == 0, out
    assert "1 of the BFF's 10 calls (10.00%)" in out
    assert "allowed: sunset 2099-06-30" in out


async def test_the_command_refuses_a_sunset_when_the_route_share_is_too_high(
    served: BFF, capsys: pytest.CaptureFixture[str]
) -> None:
    for _ in range(3):
        await call(served, "GET", "/v1/home", headers={"x-client-version": "3.1"})
    url = f"http://127.0.0.1:{served.admin_port}/metrics"
    assert govern(["sunset-check", "--route", "/v1/home", "--metrics", url]) == 1
    assert "REFUSED" in capsys.readouterr().out


def test_an_unreachable_metrics_endpoint_is_exit_status_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = "http://127.0.0.1:9/metrics"
    assert govern(["sunset-check", "--route", "/v1/home", "--metrics", url]) == 2
    assert "cannot read the metrics" in capsys.readouterr().out
