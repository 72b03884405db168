"""The TV BFF: one call per screen, denormalized and pre-rendered. At the transport seam
(canned upstream answers, tailor.testing) for the shapes; on the running platform for the
sign-in, the screens and their links. Scaffolded with ``python -m tailor new tv``."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import msgspec
import pytest

from tailor import build_config
from tailor.http import Response
from tailor.testing import CannedUpstreams, TestClient, TokenIssuer
from waveform.bffs.tv.app import PROFILE, build
from waveform.bffs.tv.shapes import HomeScreen, TrackScreen
from waveform.seed import PRIVATE_TRACK
from waveform.supervisor import Platform

from .caller import Caller, signed_in

ISSUER = TokenIssuer("waveform-accounts", "waveform-tv")
ALICE = {"id": "u1", "username": "alice", "display_name": "Alice", "avatar_url": "a.png",
         "country": "DE"}  # fmt: skip
BOB = {"id": "u2", "username": "bob", "display_name": "Bob B", "avatar_url": "b.png"}


def _track(track_id: str, owner: str = "u2", **extra: Any) -> dict[str, Any]:
    return {"id": track_id, "title": f"Track {track_id}", "owner_id": owner,
            "duration_ms": 205_000, "artwork_url": f"https://img/{track_id}.jpg",
            "media": {"stream_url": f"https://media/{track_id}"}, **extra}  # fmt: skip


@pytest.fixture
def upstreams() -> CannedUpstreams:
    canned = CannedUpstreams()
    canned.answer("accounts", "/.well-known/jwks.json", ISSUER.jwks)
    canned.answer("users", "/users/u1", ALICE)
    canned.answer("users", "/users", {"items": [BOB]})
    canned.answer(
        "stream",
        "/stream/u1",
        {
            "items": [
                {"id": "s1", "type": "post", "actor_id": "u2", "track_id": "t1", "created_at": "x"}
            ]
        },
    )
    canned.answer("recommendations", "/recommendations/u1", {"items": [{"track_id": "t2"}]})
    canned.answer("catalog", "/catalog/tracks", {"items": [_track("t1"), _track("t2")]})
    canned.answer("tracks", "/tracks", {"items": [{"id": "t1"}, {"id": "t2"}]})
    return canned  # fmt: skip


def _get(upstreams: CannedUpstreams, path: str, issuer: TokenIssuer = ISSUER) -> Response:
    offline = {k: v for k, v in PROFILE.items() if k != "token_exchange"}

    async def run() -> Response:
        async with TestClient(build(build_config(offline)), upstreams) as client:
            return await client.get(path, headers=issuer.bearer("u1"))

    return asyncio.run(run())


def test_the_home_is_rails_of_tiles_with_display_text_and_actions(
    upstreams: CannedUpstreams,
) -> None:
    response = _get(upstreams, "/v1/screens/home")
    assert response.status == 200
    home = json.loads(response.body)
    assert home["title"] == "Welcome back, Alice"
    assert [r["id"] for r in home["rails"]] == ["following", "for-you"]
    assert home["rails"][0]["tiles"] == [
        {"title": "Track t1", "subtitle": "Bob B", "badge": "3:25",
         "image_url": "https://img/t1.jpg",
         "action": {"kind": "open", "target": "/v1/screens/tracks/t1"}}
    ]  # fmt: skip


def test_a_rail_with_nothing_to_show_is_left_out(upstreams: CannedUpstreams) -> None:
    upstreams.answer("recommendations", "/recommendations/u1", {"items": []})
    home = json.loads(_get(upstreams, "/v1/screens/home").body)
    assert [r["id"] for r in home["rails"]] == ["following"]


def test_the_track_screen_has_a_rendered_hero_and_more_from_the_artist(
    upstreams: CannedUpstreams,
) -> None:
    first = _track("t1", genre="Techno", like_count=1234, description="Loops")
    upstreams.answer("catalog", "/catalog/tracks", {"items": [first, _track("t2")]})
    response = _get(upstreams, "/v1/screens/tracks/t1")
    assert response.status == 200
    screen = json.loads(response.body)
    assert screen["hero"] == {
        "title": "Track t1", "subtitle": "Bob B", "description": "Loops",
        "facts": ["Techno", "3:25", "1.2K likes"], "image_url": "https://img/t1.jpg",
        "play": {"kind": "play", "target": "https://media/t1"},
    }  # fmt: skip
    assert screen["rails"][0]["title"] == "More from Bob B"
    assert [t["title"] for t in screen["rails"][0]["tiles"]] == ["Track t2"]


def test_a_track_the_caller_may_not_see_is_a_404_problem(upstreams: CannedUpstreams) -> None:
    upstreams.answer("catalog", "/catalog/tracks", {"items": []})
    response = _get(upstreams, "/v1/screens/tracks/t9")
    assert response.status == 404
    assert response.header("content-type") == "application/problem+json"


def test_a_token_for_another_bff_is_refused_with_401(upstreams: CannedUpstreams) -> None:
    mobile = TokenIssuer("waveform-accounts", "waveform-mobile")
    upstreams.answer("accounts", "/.well-known/jwks.json", mobile.jwks)
    assert _get(upstreams, "/v1/screens/home", issuer=mobile).status == 401


# -- on the running platform ------------------------------------------------------------------


@pytest.fixture(scope="module")
def tv_alice(platform: Platform, http: httpx.Client) -> Caller:
    return signed_in(platform, http, "tv", "alice")


def test_alices_home_on_the_platform_is_one_call_with_rails(tv_alice: Caller) -> None:
    response = tv_alice.get("/v1/screens/home")
    assert response.status_code == 200, response.text
    home = msgspec.json.decode(response.content, type=HomeScreen)
    assert home.title.startswith("Welcome back, ")
    assert home.rails and all(rail.tiles for rail in home.rails)


def test_every_tile_of_the_home_opens_a_track_screen_that_answers(tv_alice: Caller) -> None:
    home = msgspec.json.decode(tv_alice.get("/v1/screens/home").content, type=HomeScreen)
    targets = {tile.action.target for rail in home.rails for tile in rail.tiles}
    assert targets
    for target in sorted(targets)[:5]:
        response = tv_alice.get(target)
        assert response.status_code == 200, (target, response.text)
        screen = msgspec.json.decode(response.content, type=TrackScreen)
        assert screen.hero.play.kind == "play" and screen.hero.play.target


def test_another_users_private_track_is_the_same_404_as_a_missing_one(tv_alice: Caller) -> None:
    hidden = tv_alice.get(f"/v1/screens/tracks/{PRIVATE_TRACK}")
    missing = tv_alice.get("/v1/screens/tracks/t999999")
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json()["title"] == missing.json()["title"]


def test_more_from_the_artist_leaves_out_their_private_track(tv_alice: Caller) -> None:
    # t1 and the private t2 are both bob's: the catalog answers only what alice may see.
    response = tv_alice.get("/v1/screens/tracks/t1")
    assert response.status_code == 200, response.text
    screen = msgspec.json.decode(response.content, type=TrackScreen)
    targets = {tile.action.target for rail in screen.rails for tile in rail.tiles}
    assert f"/v1/screens/tracks/{PRIVATE_TRACK}" not in targets


def test_a_malformed_track_id_is_a_400_problem_naming_it(tv_alice: Caller) -> None:
    response = tv_alice.get("/v1/screens/tracks/t1%00..x")
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["parameter"] == "id"


def test_a_screen_without_a_token_is_a_401_with_a_bearer_challenge(
    platform: Platform, http: httpx.Client
) -> None:
    response = http.get(f"{platform.url('tv')}/v1/screens/home")
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
