"""The public API BFF on the running platform: app tokens, user tokens, the v1 contract."""

from __future__ import annotations

import httpx
import msgspec
import pytest

from waveform.bffs.public.shapes import MeOut, TrackOut, UserOut
from waveform.seed import GEO_BLOCKED_TRACK, PRIVATE_TRACK
from waveform.supervisor import Platform


def _app_token(platform: Platform, http: httpx.Client) -> str:
    response = http.post(
        f"{platform.url('public')}/v1/oauth/token",
        data={"grant_type": "client_credentials", "client_id": "acme-player",
              "client_secret": "acme-secret"},
    )  # fmt: skip
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    return str(response.json()["access_token"])


def _user_token(platform: Platform, http: httpx.Client, username: str = "alice") -> str:
    response = http.post(
        f"{platform.url('public')}/v1/oauth/token",
        json={"grant_type": "password", "username": username, "password": f"wave-{username}",
              "client_id": "acme-player"},
    )  # fmt: skip
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def _get(platform: Platform, http: httpx.Client, path: str, token: str) -> httpx.Response:
    return http.get(f"{platform.url('public')}{path}", headers={"authorization": f"Bearer {token}"})


def test_an_app_token_reads_a_public_track_in_the_v1_shape(
    platform: Platform, http: httpx.Client
) -> None:
    response = _get(platform, http, "/v1/tracks/t1", _app_token(platform, http))
    assert response.status_code == 200
    track = msgspec.json.decode(response.content, type=TrackOut)
    assert track.track.id == "t1" and track.owner is not None


@pytest.mark.parametrize("track", [PRIVATE_TRACK, GEO_BLOCKED_TRACK])
def test_an_app_token_sees_no_private_or_geo_restricted_track(
    platform: Platform, http: httpx.Client, track: str
) -> None:
    assert (
        _get(platform, http, f"/v1/tracks/{track}", _app_token(platform, http)).status_code == 404
    )


def test_the_owner_sees_their_private_track_with_a_user_token(
    platform: Platform, http: httpx.Client
) -> None:
    token = _user_token(platform, http, "bob")
    assert _get(platform, http, f"/v1/tracks/{PRIVATE_TRACK}", token).status_code == 200


def test_a_user_page_decodes_into_the_published_shape(
    platform: Platform, http: httpx.Client
) -> None:
    response = _get(platform, http, "/v1/users/u2", _app_token(platform, http))
    user = msgspec.json.decode(response.content, type=UserOut)
    assert user.user.id == "u2" and PRIVATE_TRACK not in {t.id for t in user.tracks}


def test_me_needs_a_user_token(platform: Platform, http: httpx.Client) -> None:
    assert _get(platform, http, "/v1/me", _app_token(platform, http)).status_code == 403
    me = msgspec.json.decode(
        _get(platform, http, "/v1/me", _user_token(platform, http)).content, type=MeOut
    )
    assert me.user.id == "u1"


def test_a_bad_client_secret_is_a_401_problem(platform: Platform, http: httpx.Client) -> None:
    response = http.post(
        f"{platform.url('public')}/v1/oauth/token",
        data={"grant_type": "client_credentials", "client_id": "acme-player",
              "client_secret": "nope"},
    )  # fmt: skip
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"


def test_calls_are_counted_by_the_app_and_version_of_the_user_agent(
    platform: Platform, http: httpx.Client
) -> None:
    token = _app_token(platform, http)
    response = http.get(
        f"{platform.url('public')}/v1/tracks/t1",
        headers={"authorization": f"Bearer {token}", "user-agent": "acme-player/7.3.1 (ios)"},
    )
    assert response.status_code == 200
    metrics = http.get(f"{platform.admin_url('public')}/metrics").text
    counted = [
        line
        for line in metrics.splitlines()
        if line.startswith("tailor_client_requests_total{")
        and 'app="acme-player"' in line
        and 'version="7.3.1"' in line
        and 'platform="ios"' in line
    ]
    assert counted and float(counted[0].rsplit(" ", 1)[1]) >= 1
