"""The mobile home screen: one round trip, the services' data, far fewer bytes."""

from __future__ import annotations

from typing import Any

import httpx

from waveform.supervisor import Platform

from .caller import Caller

# The viewer is the internal token's subject (the shared client's tokens are about u1).
VIEWER = {"x-viewer-country": "DE"}


def _direct(platform: Platform, http: httpx.Client) -> dict[str, httpx.Response]:
    """The raw upstream responses the home screen replaces, fetched from the services."""
    raw = {
        "me": http.get(f"{platform.url('users')}/users/u1"),
        "stream": http.get(f"{platform.url('stream')}/stream/u1", params={"limit": 20}),
        "recs": http.get(f"{platform.url('recommendations')}/recommendations/u1",
                         params={"limit": 10}),
        "playlists": http.get(f"{platform.url('playlists')}/playlists", params={"owner": "u1"}),
    }  # fmt: skip
    ids = [i["track_id"] for i in raw["stream"].json()["items"]] + [
        r["track_id"] for r in raw["recs"].json()["items"]
    ]
    raw["tracks"] = http.get(
        f"{platform.url('catalog')}/catalog/tracks",
        params={"ids": ",".join(dict.fromkeys(ids))},
        headers=VIEWER,
    )
    people = [i["actor_id"] for i in raw["stream"].json()["items"]] + [
        t["owner_id"] for t in raw["tracks"].json()["items"]
    ]
    raw["people"] = http.get(
        f"{platform.url('users')}/users", params={"ids": ",".join(dict.fromkeys(people))}
    )
    for name, response in raw.items():
        assert response.status_code == 200, (name, response.text)
    return raw


def test_home_is_one_complete_response_with_every_section(mobile_alice: Caller) -> None:
    response = mobile_alice.get("/v1/home")
    assert response.status_code == 200
    body = response.json()
    assert body["me"]["id"] == "u1"
    assert body["stream"]["items"] and body["recommendations"] and body["playlists"]
    assert "degraded" not in body
    assert "tailor-degraded" not in response.headers


def test_home_equals_what_the_services_hold(
    platform: Platform, http: httpx.Client, mobile_alice: Caller
) -> None:
    home = mobile_alice.get("/v1/home").json()
    raw = {name: r.json() for name, r in _direct(platform, http).items()}
    tracks = {t["id"]: t for t in raw["tracks"]["items"]}
    people = {u["id"]: u for u in raw["people"]["items"]}

    def card(user: dict[str, Any]) -> dict[str, Any]:
        return {k: user[k] for k in ("id", "username", "display_name", "avatar_url")}

    def track_card(track_id: str) -> dict[str, Any]:
        t = tracks[track_id]
        return {
            "id": t["id"],
            "title": t["title"],
            "duration_ms": t["duration_ms"],
            "artwork_url": t["artwork_url"],
            "stream_url": t["media"]["stream_url"],
            "owner": card(people[t["owner_id"]]),
        }

    assert home["me"] == card(raw["me"])
    expected_stream = [
        {
            "id": i["id"],
            "type": i["type"],
            "created_at": i["created_at"],
            "actor": card(people[i["actor_id"]]),
            "track": track_card(i["track_id"]),
        }
        for i in raw["stream"]["items"]
        if i["track_id"] in tracks
    ]
    assert home["stream"] == {
        "items": expected_stream,
        "next_cursor": raw["stream"]["next_cursor"],
    }
    assert home["recommendations"] == [
        track_card(r["track_id"]) for r in raw["recs"]["items"] if r["track_id"] in tracks
    ]
    assert home["playlists"] == [
        {
            "id": p["id"],
            "title": p["title"],
            "track_count": len(p["track_ids"]),
            "artwork_url": p["artwork_url"],
        }
        for p in raw["playlists"]["items"]
    ]


def test_home_carries_at_least_60_percent_fewer_bytes_than_the_upstream_responses(
    platform: Platform, http: httpx.Client, mobile_alice: Caller
) -> None:
    home_bytes = len(mobile_alice.get("/v1/home").content)
    raw_bytes = sum(len(r.content) for r in _direct(platform, http).values())
    assert home_bytes <= 0.4 * raw_bytes, (home_bytes, raw_bytes)


def test_web_stream_cursor_is_passed_through_to_the_next_page(web_alice: Caller) -> None:
    first = web_alice.get("/api/stream").json()
    cursor = first["next_cursor"]
    assert cursor
    second = web_alice.get(f"/api/stream?cursor={cursor}").json()
    first_ids = {i["id"] for i in first["items"]}
    assert second["items"]
    assert first_ids.isdisjoint(i["id"] for i in second["items"])
