"""Foundation services: full rows, batch endpoints, problem+json errors, health."""

from __future__ import annotations

import httpx
import pytest

from waveform.services import SERVICES
from waveform.supervisor import Platform


def test_every_service_is_healthy_and_publishes_openapi(
    platform: Platform, http: httpx.Client
) -> None:
    for name in SERVICES:
        assert http.get(f"{platform.url(name)}/healthz").json() == {"status": "ok"}
        assert "paths" in http.get(f"{platform.url(name)}/openapi.json").json()


def test_user_is_the_full_internal_representation(platform: Platform, http: httpx.Client) -> None:
    user = http.get(f"{platform.url('users')}/users/u1").json()
    assert user["username"] == "alice" and user["country"] == "DE"
    assert {"email", "date_of_birth", "phone", "last_login_ip", "followers_count"} <= user.keys()


def test_users_batch_keeps_asked_order_and_skips_missing(
    platform: Platform, http: httpx.Client
) -> None:
    resp = http.get(f"{platform.url('users')}/users", params={"ids": "u3,nobody,u1"})
    assert [u["id"] for u in resp.json()["items"]] == ["u3", "u1"]


def test_batch_over_100_ids_is_400(platform: Platform, http: httpx.Client) -> None:
    ids = ",".join(f"t{i}" for i in range(1, 102))
    for name, path in (
        ("users", "/users"),
        ("tracks", "/tracks"),
        ("media", "/media"),
        ("rights", "/rights"),
    ):
        resp = http.get(f"{platform.url(name)}{path}", params={"ids": ids})
        assert resp.status_code == 400, name
        assert resp.headers["content-type"] == "application/problem+json"


def test_tracks_media_rights_batches_agree(platform: Platform, http: httpx.Client) -> None:
    ids = {"ids": "t5,t1,t3"}
    tracks = http.get(f"{platform.url('tracks')}/tracks", params=ids).json()["items"]
    media = http.get(f"{platform.url('media')}/media", params=ids).json()["items"]
    rights = http.get(f"{platform.url('rights')}/rights", params=ids).json()["items"]
    assert [t["id"] for t in tracks] == ["t5", "t1", "t3"]
    assert [m["track_id"] for m in media] == ["t5", "t1", "t3"]
    assert [r["track_id"] for r in rights] == ["t5", "t1", "t3"]
    assert rights[2]["geo_restricted"] and "DE" not in rights[2]["allowed_countries"]
    assert rights[1]["allowed_countries"] == []


def test_tracks_by_owner_are_newest_first(platform: Platform, http: httpx.Client) -> None:
    items = http.get(f"{platform.url('tracks')}/tracks", params={"owner": "u2"}).json()["items"]
    assert items and all(t["owner_id"] == "u2" for t in items)
    stamps = [t["created_at"] for t in items]
    assert stamps == sorted(stamps, reverse=True)
    assert items[0]["id"] == "t1"


def test_tracks_service_applies_no_visibility(platform: Platform, http: httpx.Client) -> None:
    track = http.get(f"{platform.url('tracks')}/tracks/t2").json()
    assert track["private"] is True and track["owner_id"] == "u2"


@pytest.mark.parametrize(
    "name,path",
    [
        ("users", "/users/u0"),
        ("tracks", "/tracks/t0"),
        ("playlists", "/playlists/p0"),
        ("media", "/media/t0"),
        ("rights", "/rights/t0"),
        ("accounts", "/accounts/u0"),
        ("social", "/social/u0/followers"),
        ("stream", "/stream/u0"),
        ("recommendations", "/recommendations/u0"),
    ],
)
def test_unknown_id_is_404_problem_json(
    platform: Platform, http: httpx.Client, name: str, path: str
) -> None:
    resp = http.get(platform.url(name) + path)
    assert resp.status_code == 404
    assert resp.headers["content-type"] == "application/problem+json"
    assert {"type", "title", "status", "detail"} <= resp.json().keys()


@pytest.mark.parametrize(
    "name,path",
    [
        ("stream", "/stream/u1?limit=0"),
        ("stream", "/stream/u1?limit=51"),
        ("stream", "/stream/u1?limit=abc"),
        ("stream", "/stream/u1?cursor=%%%"),
        ("tracks", "/tracks"),
        ("tracks", "/tracks?ids=t1&owner=u1"),
        ("users", "/users?ids=,"),
        ("recommendations", "/recommendations/u1?limit=0"),
    ],
)
def test_bad_params_are_400_problem_json(
    platform: Platform, http: httpx.Client, name: str, path: str
) -> None:
    resp = http.get(platform.url(name) + path)
    assert resp.status_code == 400
    assert resp.headers["content-type"] == "application/problem+json"
    assert "Traceback" not in resp.text


def test_playlists_by_owner(platform: Platform, http: httpx.Client) -> None:
    items = http.get(f"{platform.url('playlists')}/playlists", params={"owner": "u1"}).json()[
        "items"
    ]
    assert "p1" in [p["id"] for p in items]
    p1 = http.get(f"{platform.url('playlists')}/playlists/p1").json()
    assert p1["track_ids"][:3] == ["t1", "t3", "t5"]


def test_social_lists(platform: Platform, http: httpx.Client) -> None:
    base = f"{platform.url('social')}/social/u1"
    followings = [f["user_id"] for f in http.get(f"{base}/followings").json()["items"]]
    assert {"u2", "u3"} <= set(followings)
    for kind in ("followers", "likes", "reposts"):
        assert "items" in http.get(f"{base}/{kind}").json()


def test_recommendations_include_restricted_candidates(
    platform: Platform, http: httpx.Client
) -> None:
    body = http.get(f"{platform.url('recommendations')}/recommendations/u1").json()
    assert len(body["items"]) == 10 and body["model_version"]
    assert "t3" in [i["track_id"] for i in body["items"]]
