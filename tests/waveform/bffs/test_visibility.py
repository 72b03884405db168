"""Private and geo-restricted tracks never reach a caller who may not see them, through any
endpoint of any BFF. The rules live in the catalog service; these tests prove no BFF path
goes around it."""

from __future__ import annotations

import httpx
import pytest

from waveform.seed import GEO_BLOCKED_TRACK, PRIVATE_TRACK
from waveform.supervisor import Platform

from .caller import Caller

HIDDEN_FROM_ALICE = (PRIVATE_TRACK, GEO_BLOCKED_TRACK)


def _track_ids(value: object) -> set[str]:
    """Every track id anywhere in a response body (cards, maps keyed by id, id lists)."""
    found: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for key, child in node.items():
                if isinstance(key, str) and key.startswith("t") and key[1:].isdigit():
                    found.add(key)
                if key in ("track_id", "id") and isinstance(child, str) and child[:1] == "t":
                    found.add(child)
                if key == "track_ids" and isinstance(child, list):
                    found.update(child)
                walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    walk(value)
    return found


def _playlists_holding(platform: Platform, http: httpx.Client, track: str) -> list[str]:
    holding = []
    for owner in ("u1", "u2", "u3", "u4", "u5"):
        items = http.get(f"{platform.url('playlists')}/playlists", params={"owner": owner})
        holding += [p["id"] for p in items.json()["items"] if track in p["track_ids"]]
    return holding


def test_the_fixtures_really_are_in_alices_feed_and_recommendations(
    platform: Platform, http: httpx.Client
) -> None:
    # Without this, the tests below could pass because the hidden tracks were never there.
    stream = http.get(f"{platform.url('stream')}/stream/u1", params={"limit": 50}).json()
    recs = http.get(f"{platform.url('recommendations')}/recommendations/u1").json()
    candidates = {i["track_id"] for i in stream["items"]} | {r["track_id"] for r in recs["items"]}
    assert set(HIDDEN_FROM_ALICE) & candidates


def test_mobile_home_never_shows_alice_a_hidden_track(mobile_alice: Caller) -> None:
    body = mobile_alice.get("/v1/home").json()
    assert _track_ids(body).isdisjoint(HIDDEN_FROM_ALICE)


def test_web_stream_pages_never_show_alice_a_hidden_track(web_alice: Caller) -> None:
    cursor = ""
    for _ in range(5):
        body = web_alice.get(f"/api/stream?cursor={cursor}").json()
        assert _track_ids(body).isdisjoint(HIDDEN_FROM_ALICE)
        cursor = body["next_cursor"] or ""
        if not cursor:
            break


@pytest.mark.parametrize("track", HIDDEN_FROM_ALICE)
@pytest.mark.parametrize("caller, prefix", [("mobile_alice", "/v1"), ("web_alice", "/api")])
def test_a_hidden_track_is_a_404_for_alice(
    request: pytest.FixtureRequest, caller: str, prefix: str, track: str
) -> None:
    response = request.getfixturevalue(caller).get(f"{prefix}/tracks/{track}")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("caller, prefix", [("mobile_bob", "/v1"), ("web_bob", "/api")])
def test_the_owner_of_a_private_track_does_see_it(
    request: pytest.FixtureRequest, caller: str, prefix: str
) -> None:
    response = request.getfixturevalue(caller).get(f"{prefix}/tracks/{PRIVATE_TRACK}")
    assert response.status_code == 200
    assert response.json()["id"] == PRIVATE_TRACK


@pytest.mark.parametrize("caller, prefix", [("mobile_alice", "/v1"), ("web_alice", "/api")])
@pytest.mark.parametrize("owner", ["u2", "u3"])
def test_user_pages_leave_out_tracks_alice_may_not_see(
    request: pytest.FixtureRequest, caller: str, prefix: str, owner: str
) -> None:
    body = request.getfixturevalue(caller).get(f"{prefix}/users/{owner}").json()
    assert body["tracks"], "the owner's visible tracks are listed"
    assert _track_ids(body).isdisjoint(HIDDEN_FROM_ALICE)


@pytest.mark.parametrize("caller, prefix", [("mobile_alice", "/v1"), ("web_alice", "/api")])
def test_playlists_leave_out_tracks_alice_may_not_see(
    platform: Platform,
    http: httpx.Client,
    request: pytest.FixtureRequest,
    caller: str,
    prefix: str,
) -> None:
    playlists = {p for t in HIDDEN_FROM_ALICE for p in _playlists_holding(platform, http, t)}
    for playlist in playlists:
        response = request.getfixturevalue(caller).get(f"{prefix}/playlists/{playlist}")
        if response.status_code == 200:
            assert _track_ids(response.json()).isdisjoint(HIDDEN_FROM_ALICE)
