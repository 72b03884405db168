"""Broken object-level authorization: a user reading another user's private data through
any BFF. Alice (u1) asks for bob's private track and for another user's private playlist;
each answer is the same 404 as for something that does not exist. A partner's catalog holds
its own label's tracks and no other's, whichever credential it presents."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from waveform.seed import PRIVATE_TRACK, World
from waveform.supervisor import Platform

from .conftest import SCALE, app_token, assert_denied, bearer, login, partner_client

#: BFF -> (token path, login extras, path prefix)
BFFS = {
    "mobile": ("/v1/auth/token", {}, "/v1"),
    "web": ("/api/auth/token", {}, "/api"),
    "public": ("/v1/oauth/token", {"client_id": "acme-player"}, "/v1"),
}


def _private_playlist_of_someone_else(platform: Platform) -> str:
    world = World(seed=platform.seed, scale=SCALE)
    return next(p["id"] for p in world.playlists if p["private"] and p["owner_id"] != "u1")


@pytest.fixture(scope="module")
def alice(platform: Platform, http: httpx.Client) -> dict[str, str]:
    tokens = {}
    for name, (path, extra, _) in BFFS.items():
        tokens[name] = login(http, platform.url(name), path, "alice", **extra)["access_token"]
    return tokens


def _get(platform: Platform, http: httpx.Client, alice: dict[str, str], bff: str,
         path: str) -> httpx.Response:  # fmt: skip
    return http.get(f"{platform.url(bff)}{BFFS[bff][2]}{path}", headers=bearer(alice[bff]))


@pytest.mark.parametrize("bff", sorted(BFFS))
def test_another_users_private_track_is_a_404(
    platform: Platform, http: httpx.Client, alice: dict[str, str], bff: str
) -> None:
    hidden = _get(platform, http, alice, bff, f"/tracks/{PRIVATE_TRACK}")
    missing = _get(platform, http, alice, bff, "/tracks/t999999")
    assert assert_denied(hidden, 404)["title"] == assert_denied(missing, 404)["title"]


@pytest.mark.parametrize("bff", sorted(BFFS))
def test_another_users_private_playlist_is_a_404(
    platform: Platform, http: httpx.Client, alice: dict[str, str], bff: str
) -> None:
    playlist = _private_playlist_of_someone_else(platform)
    hidden = _get(platform, http, alice, bff, f"/playlists/{playlist}")
    missing = _get(platform, http, alice, bff, "/playlists/p999999")
    assert assert_denied(hidden, 404)["title"] == assert_denied(missing, 404)["title"]


def _first_private_playlist_with_a_demo_owner(platform: Platform) -> tuple[str, str]:
    world = World(seed=platform.seed, scale=SCALE)
    names = {u["id"]: u["username"] for u in world.users_base}
    for playlist in world.playlists:
        owner = names.get(playlist["owner_id"], "")
        if playlist["private"] and owner in ("alice", "bob", "carol", "dave", "erin"):
            return playlist["id"], owner
    raise AssertionError("no private playlist of a demo user in this seed")


@pytest.mark.parametrize("bff", sorted(BFFS))
def test_the_owner_still_sees_their_private_playlist(
    platform: Platform, http: httpx.Client, bff: str
) -> None:
    playlist, owner = _first_private_playlist_with_a_demo_owner(platform)
    path, extra, prefix = BFFS[bff]
    token = login(http, platform.url(bff), path, owner, **extra)["access_token"]
    response = http.get(f"{platform.url(bff)}{prefix}/playlists/{playlist}",
                        headers=bearer(token))  # fmt: skip
    assert response.status_code == 200, response.text
    assert response.json()["id"] == playlist


def test_an_app_token_owns_no_private_playlist(platform: Platform, http: httpx.Client) -> None:
    playlist, _ = _first_private_playlist_with_a_demo_owner(platform)
    token = app_token(http, platform, "acme-player", "acme-secret")
    response = http.get(f"{platform.url('public')}/v1/playlists/{playlist}",
                        headers=bearer(token))  # fmt: skip
    assert_denied(response, 404)


def test_me_lists_only_the_callers_own_playlists(
    platform: Platform, http: httpx.Client, alice: dict[str, str]
) -> None:
    body = _get(platform, http, alice, "public", "/me").json()
    world = World(seed=platform.seed, scale=SCALE)
    own = {p["id"] for p in world.playlists if p["owner_id"] == "u1"}
    assert {p["id"] for p in body["playlists"]} == own


# -- partners: a label's catalog ---------------------------------------------------------------


def _partner_catalog(platform: Platform, credential: dict[str, Any]) -> tuple[set[str], set[str]]:
    """(track ids, labels) of every page of ``GET /v1/catalog`` for one partner credential."""
    ids: set[str] = set()
    labels: set[str] = set()
    cursor: str | None = None
    with partner_client(platform, credential.get("cert"), credential.get("key")) as client:
        for _ in range(200):  # bounded: a cursor that never ends fails below
            params = {"limit": "7", **({"cursor": cursor} if cursor else {})}
            response = client.get(f"{platform.url('partner')}/v1/catalog", params=params,
                                  headers=credential.get("headers", {}))  # fmt: skip
            assert response.status_code == 200, response.text
            body = response.json()
            labels.add(body["label"])
            ids |= {item["id"] for item in body["items"]}
            cursor = body["next_cursor"]
            if cursor is None:
                return ids, labels
    raise AssertionError("the catalog's cursor never ended")


def _public_tracks_of(platform: Platform, label: str) -> set[str]:
    """The label's tracks that the catalog shows to a subject owning none."""
    world = World(seed=platform.seed, scale=SCALE)
    private = {t["id"] for t in world.tracks if t["private"]}
    return {
        r["track_id"]
        for r in world.rights
        if r["label"] == label and not r["geo_restricted"] and r["track_id"] not in private
    }


def test_acmes_catalog_holds_exactly_its_own_labels_tracks(
    platform: Platform, acme_key: str
) -> None:
    ids, labels = _partner_catalog(platform, {"headers": {"x-api-key": acme_key}})
    assert labels == {"Acme Records"}
    assert ids == _public_tracks_of(platform, "Acme Records") and "t1" in ids


def test_globexs_catalog_holds_exactly_its_own_labels_tracks(platform: Platform) -> None:
    pair = platform.certs.client("p-globex")
    ids, labels = _partner_catalog(platform, {"cert": pair.cert, "key": pair.key})
    assert labels == {"Globex Music"}
    assert ids == _public_tracks_of(platform, "Globex Music") and "t4" in ids
