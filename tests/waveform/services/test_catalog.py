"""catalog: merges tracks+rights+media and applies the visibility rules once.

The viewer is the subject of the internal token; the country comes from the BFF's header.
"""

from __future__ import annotations

import httpx
import pytest

from waveform.seed import GEO_ALLOWED_TRACK, GEO_BLOCKED_TRACK, PRIVATE_TRACK
from waveform.supervisor import Platform

from .conftest import bearer

Viewer = tuple[str, str | None]  # (token subject, X-Viewer-Country)
ALICE: Viewer = ("u1", "DE")
BOB: Viewer = ("u2", "US")


def viewer_headers(p: Platform, viewer: Viewer | None) -> dict[str, str]:
    """No viewer: the shared client's token, whose subject is no user (anonymous)."""
    if viewer is None:
        return {}
    subject, country = viewer
    headers = bearer(p, "catalog", subject)
    if country is not None:
        headers["X-Viewer-Country"] = country
    return headers


def track(
    http: httpx.Client, p: Platform, tid: str, viewer: Viewer | None = None
) -> httpx.Response:
    return http.get(f"{p.url('catalog')}/catalog/tracks/{tid}", headers=viewer_headers(p, viewer))


def batch(http: httpx.Client, p: Platform, ids: str, viewer: Viewer | None = None) -> list[str]:
    resp = http.get(
        f"{p.url('catalog')}/catalog/tracks", params={"ids": ids}, headers=viewer_headers(p, viewer)
    )
    assert resp.status_code == 200
    return [t["id"] for t in resp.json()["items"]]


def test_merged_track_carries_media_and_rights(platform: Platform, http: httpx.Client) -> None:
    body = track(http, platform, "t1", ALICE).json()
    assert body["id"] == "t1" and body["media"]["track_id"] == "t1"
    assert body["rights"]["geo_restricted"] is False


def test_private_track_hidden_from_others_shown_to_owner(
    platform: Platform, http: httpx.Client
) -> None:
    assert track(http, platform, PRIVATE_TRACK, ALICE).status_code == 404
    assert track(http, platform, PRIVATE_TRACK).status_code == 404
    owner = track(http, platform, PRIVATE_TRACK, BOB)
    assert owner.status_code == 200 and owner.json()["private"] is True
    assert PRIVATE_TRACK not in batch(http, platform, "t1,t2", ALICE)
    assert batch(http, platform, "t2,t1", BOB) == ["t2", "t1"]


def test_geo_restricted_track_hidden_outside_allowed_countries(
    platform: Platform, http: httpx.Client
) -> None:
    assert track(http, platform, GEO_BLOCKED_TRACK, ALICE).status_code == 404
    assert track(http, platform, GEO_BLOCKED_TRACK, BOB).status_code == 200
    assert track(http, platform, GEO_BLOCKED_TRACK).status_code == 404  # no country
    anon_gb = track(http, platform, GEO_BLOCKED_TRACK, ("anonymous", "GB"))
    assert anon_gb.status_code == 200
    assert track(http, platform, GEO_ALLOWED_TRACK, ALICE).status_code == 200
    assert batch(http, platform, "t3,t5,t1", ALICE) == ["t5", "t1"]


def test_404_is_identical_for_missing_and_hidden(platform: Platform, http: httpx.Client) -> None:
    hidden = track(http, platform, PRIVATE_TRACK, ALICE)
    missing = track(http, platform, "t999999", ALICE)
    assert hidden.status_code == missing.status_code == 404
    assert (
        hidden.headers["content-type"]
        == missing.headers["content-type"]
        == "application/problem+json"
    )
    strip = {"detail"}  # the detail names the id asked for, nothing more
    h = {k: v for k, v in hidden.json().items() if k not in strip}
    m = {k: v for k, v in missing.json().items() if k not in strip}
    assert h == m
    assert hidden.json()["detail"].replace(PRIVATE_TRACK, "X") == missing.json()["detail"].replace(
        "t999999", "X"
    )


def test_batch_keeps_order_and_drops_missing(platform: Platform, http: httpx.Client) -> None:
    assert batch(http, platform, "t4,t0,t1", ALICE) == ["t4", "t1"]


def test_batch_over_100_ids_is_400(platform: Platform, http: httpx.Client) -> None:
    ids = ",".join(f"t{i}" for i in range(1, 102))
    resp = http.get(f"{platform.url('catalog')}/catalog/tracks", params={"ids": ids})
    assert resp.status_code == 400
    assert resp.headers["content-type"] == "application/problem+json"


def test_viewer_comes_from_the_token_not_from_x_user_id(
    platform: Platform, http: httpx.Client
) -> None:
    spoofed = {**viewer_headers(platform, ALICE), "X-User-Id": "u2"}
    resp = http.get(f"{platform.url('catalog')}/catalog/tracks/{PRIVATE_TRACK}", headers=spoofed)
    assert resp.status_code == 404


@pytest.mark.parametrize(
    "path, subject",
    [("/catalog/tracks/t1", "viewer-one"), ("/catalog/tracks?ids=t1", "viewer-batch")],
)
def test_catalog_exchanges_its_own_tokens_for_the_foundation_services(
    platform: Platform, http: httpx.Client, path: str, subject: str
) -> None:
    before = exchanges(http, platform).get("catalog", 0)
    resp = http.get(
        platform.url("catalog") + path, headers=viewer_headers(platform, (subject, "US"))
    )
    assert resp.status_code == 200
    assert exchanges(http, platform).get("catalog", 0) - before == 3  # tracks, rights, media


def exchanges(http: httpx.Client, p: Platform) -> dict[str, int]:
    stats: dict[str, int] = http.get(f"{p.url('tokens')}/stats").json()["issued"]
    return stats
