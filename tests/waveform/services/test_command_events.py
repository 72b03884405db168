"""Commands at the services, with a real redis-server: each emits its domain event on
``waveform:events`` once something changed (a repeated like emits nothing), the catalog
decides likes and reposts before social records them, and only the catalog may ask social
to (tokens, tracks, rights, media, social, playlists and catalog as real processes)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import httpx
import msgspec
import pytest
import redis
from platforms import started
from seeded import open_tracks

from waveform.seed import PRIVATE_TRACK, World, token_client_secret
from waveform.services.events import DOMAIN_STREAM
from waveform.supervisor import Platform

from .conftest import bearer

SCALE = 200


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    components = ["tokens", "tracks", "rights", "media", "social", "playlists", "catalog"]
    with started(
        tmp_path_factory, "waveform-commands", scale=SCALE, redis=True, components=components
    ) as p:
        yield p


@pytest.fixture(scope="module")
def stream(platform: Platform) -> Iterator[redis.Redis]:
    assert platform.redis is not None
    with redis.Redis.from_url(platform.redis.url) as r:
        yield r


@pytest.fixture(scope="module")
def visible() -> list[str]:
    """Tracks anyone may see (public, not geo-restricted)."""
    return open_tracks(SCALE)


def mark(stream: redis.Redis) -> str:
    newest = stream.xrevrange(DOMAIN_STREAM, count=1)
    return newest[0][0].decode() if newest else "0-0"


def since(stream: redis.Redis, last: str) -> list[tuple[str, dict[str, str]]]:
    """The domain events emitted after ``last`` (a command emits before it answers)."""
    return [
        (fields[b"type"].decode(), msgspec.json.decode(fields[b"data"]))
        for _, fields in stream.xrange(DOMAIN_STREAM, min=f"({last}")
    ]


def as_user(platform: Platform, service: str, user: str) -> dict[str, str]:
    return bearer(platform, service, user)


def catalog(platform: Platform, method: str, path: str, user: str) -> httpx.Response:
    return httpx.request(method, f"{platform.url('catalog')}/catalog{path}",
                         headers=as_user(platform, "catalog", user), timeout=10)  # fmt: skip


def test_a_like_emits_track_liked_naming_the_track_its_owner_and_the_user(
    platform: Platform, stream: redis.Redis, visible: list[str]
) -> None:
    track = visible[0]
    catalog(platform, "DELETE", f"/tracks/{track}/like", "u3")  # as if never liked (the seed's)
    last = mark(stream)
    response = catalog(platform, "POST", f"/tracks/{track}/like", "u3")
    assert response.status_code == 200 and response.json()["liked"] is True
    owner = World(scale=SCALE).tracks[int(track[1:]) - 1]["owner_id"]
    assert since(stream, last) == [
        ("track.liked", {"track_id": track, "owner_id": owner, "user_id": "u3"})
    ]


def test_a_repeated_like_emits_nothing_and_an_unlike_emits_track_unliked(
    platform: Platform, stream: redis.Redis, visible: list[str]
) -> None:
    track = visible[1]
    catalog(platform, "POST", f"/tracks/{track}/like", "u4")
    last = mark(stream)
    catalog(platform, "POST", f"/tracks/{track}/like", "u4")
    catalog(platform, "DELETE", f"/tracks/{track}/like", "u4")
    assert [t for t, _ in since(stream, last)] == ["track.unliked"]


def test_a_repost_and_its_undoing_emit_their_events(
    platform: Platform, stream: redis.Redis, visible: list[str]
) -> None:
    track = visible[2]
    catalog(platform, "DELETE", f"/tracks/{track}/repost", "u3")  # as if never reposted
    last = mark(stream)
    assert catalog(platform, "POST", f"/tracks/{track}/repost", "u3").json()["reposted"] is True
    assert catalog(platform, "DELETE", f"/tracks/{track}/repost", "u3").json()["reposted"] is False
    assert [t for t, _ in since(stream, last)] == ["track.reposted", "track.unreposted"]


def test_a_like_of_a_track_the_caller_may_not_see_is_404_and_emits_nothing(
    platform: Platform, stream: redis.Redis
) -> None:
    last = mark(stream)
    assert catalog(platform, "POST", f"/tracks/{PRIVATE_TRACK}/like", "u1").status_code == 404
    assert since(stream, last) == []


def test_social_records_likes_only_from_the_catalog(platform: Platform, visible: list[str]) -> None:
    token = _exchange_as(platform, "bff-web", "social", "u3")
    response = httpx.put(f"{platform.url('social')}/social/likes/{visible[3]}",
                         json={"owner_id": "u1"}, timeout=10,
                         headers={"authorization": f"Bearer {token}"})  # fmt: skip
    assert response.status_code == 403


def test_a_follow_and_unfollow_emit_their_events(platform: Platform, stream: redis.Redis) -> None:
    url = f"{platform.url('social')}/social/followings/u7"
    headers = as_user(platform, "social", "u6")
    httpx.delete(url, headers=headers, timeout=10)  # as if never followed (the seed's)
    last = mark(stream)
    assert httpx.put(url, headers=headers, timeout=10).json() == {"user_id": "u7",
                                                                  "following": True}  # fmt: skip
    httpx.delete(url, headers=headers, timeout=10)
    events = since(stream, last)
    assert [t for t, _ in events] == ["user.followed", "user.unfollowed"]
    assert all(d["follower_id"] == "u6" and d["followee_id"] == "u7" for _, d in events)


def test_creating_and_editing_a_playlist_emit_playlist_changed(
    platform: Platform, stream: redis.Redis
) -> None:
    last = mark(stream)
    base, headers = f"{platform.url('playlists')}/playlists", as_user(platform, "playlists", "u5")
    created = httpx.post(base, json={"title": "Mine"}, headers=headers, timeout=10)
    assert created.status_code == 201 and created.headers["etag"] == '"v1"'
    pid = created.json()["id"]
    edited = httpx.patch(f"{base}/{pid}", json={"track_ids": ["t1"]}, timeout=10,
                         headers={**headers, "if-match": '"v1"'})  # fmt: skip
    assert edited.headers["etag"] == '"v2"'
    changed = {"playlist_id": pid, "owner_id": "u5"}
    assert since(stream, last) == [("playlist.changed", changed)] * 2


def test_a_lost_playlist_update_is_412_and_emits_nothing(
    platform: Platform, stream: redis.Redis
) -> None:
    base, headers = f"{platform.url('playlists')}/playlists", as_user(platform, "playlists", "u5")
    pid = httpx.post(base, json={"title": "Two tabs"}, headers=headers, timeout=10).json()["id"]
    httpx.patch(f"{base}/{pid}", json={"title": "one"}, timeout=10,
                headers={**headers, "if-match": '"v1"'})  # fmt: skip
    last = mark(stream)
    lost = httpx.patch(f"{base}/{pid}", json={"title": "two"}, timeout=10,
                       headers={**headers, "if-match": '"v1"'})  # fmt: skip
    assert lost.status_code == 412
    assert since(stream, last) == []


def _exchange_as(platform: Platform, client: str, audience: str, subject: str) -> str:
    """An internal token as a BFF would hold it (its own client credentials)."""
    secret = token_client_secret(platform.seed, client)
    basic = base64.b64encode(f"{client}:{secret}".encode()).decode()
    form: dict[str, Any] = {
        "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
        "subject_token": subject,
        "subject_token_type": "urn:waveform:subject",
        "audience": audience,
    }
    response = httpx.post(f"{platform.url('tokens')}/token", data=form, timeout=10,
                          headers={"authorization": f"Basic {basic}"})  # fmt: skip
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])
