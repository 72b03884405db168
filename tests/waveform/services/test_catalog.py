"""catalog: merges tracks+rights+media and applies the visibility rules once."""

from __future__ import annotations

import httpx

from waveform.seed import GEO_ALLOWED_TRACK, GEO_BLOCKED_TRACK, PRIVATE_TRACK
from waveform.supervisor import Platform

ALICE = {"X-User-Id": "u1", "X-Viewer-Country": "DE"}
BOB = {"X-User-Id": "u2", "X-Viewer-Country": "US"}


def track(http: httpx.Client, p: Platform, tid: str,
          headers: dict[str, str] | None = None) -> httpx.Response:
    return http.get(f"{p.url('catalog')}/catalog/tracks/{tid}", headers=headers or {})


def batch(http: httpx.Client, p: Platform, ids: str,
          headers: dict[str, str] | None = None) -> list[str]:
    resp = http.get(f"{p.url('catalog')}/catalog/tracks", params={"ids": ids},
                    headers=headers or {})
    assert resp.status_code == 200
    return [t["id"] for t in resp.json()["items"]]


def test_merged_track_carries_media_and_rights(platform: Platform, http: httpx.Client) -> None:
    body = track(http, platform, "t1", ALICE).json()
    assert body["id"] == "t1" and body["media"]["track_id"] == "t1"
    assert body["rights"]["geo_restricted"] is False


def test_private_track_hidden_from_others_shown_to_owner(platform: Platform,
                                                         http: httpx.Client) -> None:
    assert track(http, platform, PRIVATE_TRACK, ALICE).status_code == 404
    assert track(http, platform, PRIVATE_TRACK).status_code == 404
    owner = track(http, platform, PRIVATE_TRACK, BOB)
    assert owner.status_code == 200 and owner.json()["private"] is True
    assert PRIVATE_TRACK not in batch(http, platform, "t1,t2", ALICE)
    assert batch(http, platform, "t2,t1", BOB) == ["t2", "t1"]


def test_geo_restricted_track_hidden_outside_allowed_countries(platform: Platform,
                                                               http: httpx.Client) -> None:
    assert track(http, platform, GEO_BLOCKED_TRACK, ALICE).status_code == 404
    assert track(http, platform, GEO_BLOCKED_TRACK, BOB).status_code == 200
    assert track(http, platform, GEO_BLOCKED_TRACK).status_code == 404  # no country
    anon_gb = track(http, platform, GEO_BLOCKED_TRACK, {"X-Viewer-Country": "GB"})
    assert anon_gb.status_code == 200
    assert track(http, platform, GEO_ALLOWED_TRACK, ALICE).status_code == 200
    assert batch(http, platform, "t3,t5,t1", ALICE) == ["t5", "t1"]


def test_404_is_identical_for_missing_and_hidden(platform: Platform,
                                                 http: httpx.Client) -> None:
    hidden = track(http, platform, PRIVATE_TRACK, ALICE)
    missing = track(http, platform, "t999999", ALICE)
    assert hidden.status_code == missing.status_code == 404
    assert hidden.headers["content-type"] == missing.headers["content-type"] \
        == "application/problem+json"
    strip = {"detail"}  # the detail names the id asked for, nothing more
    h = {k: v for k, v in hidden.json().items() if k not in strip}
    m = {k: v for k, v in missing.json().items() if k not in strip}
    assert h == m
    assert hidden.json()["detail"].replace(PRIVATE_TRACK, "X") == \
        missing.json()["detail"].replace("t999999", "X")


def test_batch_keeps_order_and_drops_missing(platform: Platform, http: httpx.Client) -> None:
    assert batch(http, platform, "t4,t0,t1", ALICE) == ["t4", "t1"]


def test_batch_over_100_ids_is_400(platform: Platform, http: httpx.Client) -> None:
    ids = ",".join(f"t{i}" for i in range(1, 102))
    resp = http.get(f"{platform.url('catalog')}/catalog/tracks", params={"ids": ids})
    assert resp.status_code == 400
    assert resp.headers["content-type"] == "application/problem+json"
