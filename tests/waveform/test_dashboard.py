"""The dashboard of all BFFs, as the demo starts it, in Debian's chromium: it lists every BFF,
highlights a BFF on another tailor build, and shows a stopped service's breaker open within
one refresh.

The platform here is the services, two BFFs (web on an older build, by TAILOR_BUILD_VERSION)
and the dashboard, refreshing every REFRESH_S; nothing restarts a component that dies."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from platforms import started
from playwright.sync_api import ConsoleMessage, Page, expect

from tailor.dashboard.scrape import parse_samples
from tailor.observe.build_info import VERSION_ENV
from waveform.services import SERVICES
from waveform.supervisor import Platform

REFRESH_S = 2.0
#: What one refresh may take beyond its interval: scraping two BFFs and redrawing the page.
SCRAPE_AND_DRAW_MS = 1500
OLD_BUILD = "0.0.9-old"


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    with started(
        tmp_path_factory,
        "waveform-dashboard",
        scale=200,
        components=[*SERVICES, "mobile", "web"],
        env={"web": {VERSION_ENV: OLD_BUILD}},
        heal=False,
        dashboard=True,
        dashboard_refresh_s=REFRESH_S,
        startup_timeout=40,
    ) as p:
        yield p


@pytest.fixture
def dashboard(platform: Platform, page: Page) -> Page:
    page.goto(platform.url("dashboard"))
    expect(page.locator("section.bff")).to_have_count(2)
    return page


def test_the_platform_table_lists_the_dashboard_url(platform: Platform) -> None:
    assert f"dashboard        up         {platform.url('dashboard')}" in platform.table()


def test_the_dashboard_shows_every_bff_up(dashboard: Page) -> None:
    for name in ("mobile", "web"):
        expect(dashboard.locator(f'[data-bff="{name}"] [data-field="state"]')).to_have_text("up")


def test_a_bff_on_another_tailor_build_is_highlighted_as_version_skew(dashboard: Page) -> None:
    web = dashboard.locator('[data-bff="web"] .version')
    expect(web).to_have_text(OLD_BUILD)
    expect(web).to_have_attribute("data-skew", "true")
    expect(dashboard.locator("#versions")).to_have_class("skew")


def test_the_page_runs_under_its_content_security_policy_without_violations(
    platform: Platform, page: Page
) -> None:
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if _is_error(m) else None)
    page.goto(platform.url("dashboard"))
    expect(page.locator("section.bff")).to_have_count(2)
    assert errors == []


def _is_error(message: ConsoleMessage) -> bool:
    return message.type == "error"


def _breaker(platform: Platform, bff: str, upstream: str) -> float | None:
    text = httpx.get(f"{platform.admin_url(bff)}/metrics", timeout=5).text
    states = parse_samples(text).get("tailor_circuit_state", {})
    return states.get((("upstream", upstream),))


def test_a_stopped_services_breaker_shows_open_within_one_refresh(
    platform: Platform, dashboard: Page
) -> None:
    breaker = dashboard.locator('[data-bff="mobile"] [data-upstream="playlists"] .breaker')
    expect(breaker).to_have_text("closed")
    with httpx.Client(base_url=platform.url("mobile"), timeout=10) as http:
        login = {"grant_type": "password", "username": "alice", "password": "wave-alice"}
        token = http.post("/v1/auth/token", json=login).json()["access_token"]
        platform.kill("playlists")
        platform.wait_for_failure("playlists")
        for _ in range(20):  # bounded: the breaker opens after 5 failures in a row
            response = http.get("/v1/playlists/p1", headers={"authorization": f"Bearer {token}"})
            assert response.status_code >= 500
            if _breaker(platform, "mobile", "playlists") == 2.0:
                break
        assert _breaker(platform, "mobile", "playlists") == 2.0, "the breaker never opened"
    expect(breaker).to_have_text("open", timeout=REFRESH_S * 1000 + SCRAPE_AND_DRAW_MS)


def test_a_bff_without_traffic_shows_no_empty_tables(dashboard: Page) -> None:
    web = dashboard.locator('[data-bff="web"]')
    expect(web.locator('[data-table="Upstreams"]')).to_have_count(1)
    expect(web.locator('[data-table="Routes"]')).to_have_count(0)
    expect(web).not_to_contain_text("null")
