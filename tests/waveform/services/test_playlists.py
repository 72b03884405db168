"""playlists: the visibility rule lives in the service, keyed on the internal token's subject."""

from __future__ import annotations

import httpx
import pytest

from waveform.seed import World
from waveform.supervisor import Platform

from .conftest import SCALE, bearer


@pytest.fixture(scope="module")
def private(platform: Platform) -> tuple[str, str]:
    """(playlist id, owner) of a private playlist whose owner is not u1."""
    world = World(seed=platform.seed, scale=SCALE)
    row = next(p for p in world.playlists if p["private"] and p["owner_id"] != "u1")
    return row["id"], row["owner_id"]


@pytest.fixture(scope="module")
def public(platform: Platform) -> str:
    world = World(seed=platform.seed, scale=SCALE)
    return str(next(p["id"] for p in world.playlists if not p["private"]))


def _get(platform: Platform, path: str, subject: str, **params: str) -> httpx.Response:
    return httpx.get(f"{platform.url('playlists')}{path}", params=params,
                     headers=bearer(platform, "playlists", subject), timeout=10)  # fmt: skip


def test_the_owner_reads_their_private_playlist(
    platform: Platform, private: tuple[str, str]
) -> None:
    response = _get(platform, f"/playlists/{private[0]}", private[1])
    assert response.status_code == 200 and response.json()["private"] is True


@pytest.mark.parametrize("subject", ["u1", "bff-mobile", "acme-player"])
def test_anyone_else_gets_the_same_404_as_for_a_missing_playlist(
    platform: Platform, private: tuple[str, str], subject: str
) -> None:
    hidden = _get(platform, f"/playlists/{private[0]}", subject)
    missing = _get(platform, "/playlists/p999999", subject)
    assert hidden.status_code == missing.status_code == 404
    assert hidden.headers["content-type"] == "application/problem+json"
    assert hidden.json()["title"] == missing.json()["title"]


def test_a_public_playlist_is_served_to_anyone(platform: Platform, public: str) -> None:
    assert _get(platform, f"/playlists/{public}", "bff-mobile").status_code == 200


def test_listing_by_owner_includes_private_ones_only_for_the_owner(
    platform: Platform, private: tuple[str, str]
) -> None:
    playlist, owner = private
    own = {p["id"] for p in _get(platform, "/playlists", owner, owner=owner).json()["items"]}
    other = {p["id"] for p in _get(platform, "/playlists", "u1", owner=owner).json()["items"]}
    assert playlist in own
    assert playlist not in other and other == own - {playlist}


def test_a_private_playlist_cannot_be_edited_by_someone_else(
    platform: Platform, private: tuple[str, str]
) -> None:
    playlist, owner = private
    response = httpx.patch(f"{platform.url('playlists')}/playlists/{playlist}",
                           json={"title": "mine now"},
                           headers=bearer(platform, "playlists", "u1"), timeout=10)  # fmt: skip
    assert response.status_code == 404
    assert _get(platform, f"/playlists/{playlist}", owner).json()["title"] != "mine now"
