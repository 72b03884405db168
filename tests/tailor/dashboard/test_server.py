"""The dashboard's server: a page under a strict CSP, the board as JSON, problems for the rest."""

from __future__ import annotations

import json

from fleet import Fleet

from tailor.dashboard.server import CSP, Dashboard
from tailor.http import Request, Response


def _dashboard(fleet: Fleet) -> Dashboard:
    return Dashboard(fleet.scraper.targets, refresh_s=1.0, scraper=fleet.scraper)


async def _get(dashboard: Dashboard, path: str, method: str = "GET") -> Response:
    return await dashboard.handle(Request(method, path, "", {"host": "t"}, "127.0.0.1"))


async def test_the_page_is_served_under_a_strict_content_security_policy() -> None:
    response = await _get(_dashboard(Fleet("mobile")), "/")
    assert response.status == 200
    assert response.header("content-security-policy") == CSP
    assert "default-src 'none'" in CSP and "unsafe-inline" not in CSP
    assert b'<script src="/dashboard.js"' in response.body


async def test_the_page_loads_nothing_from_another_origin() -> None:
    dashboard = _dashboard(Fleet("mobile"))
    for path in ("/", "/dashboard.js", "/dashboard.css"):
        body = (await _get(dashboard, path)).body
        assert b"http://" not in body and b"https://" not in body, path


async def test_the_board_lists_every_target_as_json() -> None:
    fleet = Fleet("mobile", "web")
    response = await _get(_dashboard(fleet), "/api/board")
    assert response.header("content-type") == "application/json"
    assert [b["name"] for b in json.loads(response.body)["bffs"]] == ["mobile", "web"]


async def test_asking_for_the_board_scrapes_when_the_last_scrape_is_old() -> None:
    fleet = Fleet("mobile")
    await _get(_dashboard(fleet), "/api/board")
    assert len(fleet.transport.requests) == 1


async def test_an_unknown_path_is_a_404_problem() -> None:
    response = await _get(_dashboard(Fleet("mobile")), "/admin")
    assert response.status == 404
    assert response.header("content-type") == "application/problem+json"


async def test_a_post_is_a_405_problem_naming_the_allowed_methods() -> None:
    response = await _get(_dashboard(Fleet("mobile")), "/api/board", method="POST")
    assert (response.status, response.header("allow")) == (405, "GET, HEAD")
