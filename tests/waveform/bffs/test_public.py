"""The public API BFF on the running platform: app tokens, user tokens, the v1 contract."""

from __future__ import annotations

import httpx
import msgspec
import pytest

from platforms import metric
from waveform.bffs.public.shapes import MeOut, TrackOut, UserOut
from waveform.seed import GEO_BLOCKED_TRACK, PRIVATE_TRACK
from waveform.supervisor import Platform

from .caller import Caller, app_grant, public_app, public_user


@pytest.fixture(scope="module")
def app(platform: Platform, http: httpx.Client) -> Caller:
    return public_app(platform, http)


def test_an_app_token_reads_a_public_track_in_the_v1_shape(app: Caller) -> None:
    response = app.get("/v1/tracks/t1")
    assert response.status_code == 200
    track = msgspec.json.decode(response.content, type=TrackOut)
    assert track.track.id == "t1" and track.owner is not None


@pytest.mark.parametrize("track", [PRIVATE_TRACK, GEO_BLOCKED_TRACK])
def test_an_app_token_sees_no_private_or_geo_restricted_track(app: Caller, track: str) -> None:
    assert app.get(f"/v1/tracks/{track}").status_code == 404


def test_the_owner_sees_their_private_track_with_a_user_token(
    platform: Platform, http: httpx.Client
) -> None:
    bob = public_user(platform, http, "bob")
    assert bob.get(f"/v1/tracks/{PRIVATE_TRACK}").status_code == 200


def test_a_user_page_decodes_into_the_published_shape(app: Caller) -> None:
    response = app.get("/v1/users/u2")
    assert response.status_code == 200, response.text
    user = msgspec.json.decode(response.content, type=UserOut)
    assert user.user.id == "u2" and PRIVATE_TRACK not in {t.id for t in user.tracks}


def test_me_is_refused_to_an_app_token(app: Caller) -> None:
    assert app.get("/v1/me").status_code == 403


def test_me_is_the_user_of_a_user_token(platform: Platform, http: httpx.Client) -> None:
    response = public_user(platform, http, "alice").get("/v1/me")
    assert response.status_code == 200, response.text
    assert msgspec.json.decode(response.content, type=MeOut).user.id == "u1"


def test_a_token_answer_is_never_stored(platform: Platform, http: httpx.Client) -> None:
    response = app_grant(platform, http)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"  # RFC 6749 s5.1


def test_a_bad_client_secret_is_a_401_problem(platform: Platform, http: httpx.Client) -> None:
    response = app_grant(platform, http, secret="nope")
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"


def _counted(platform: Platform) -> float:
    """tailor_client_requests_total for acme-player 7.3.1 on ios."""
    return metric(platform.admin_url("public"), "tailor_client_requests_total",
                  app="acme-player", version="7.3.1", platform="ios")  # fmt: skip


def test_calls_are_counted_by_the_app_and_version_of_the_user_agent(
    platform: Platform, http: httpx.Client, app: Caller
) -> None:
    before = _counted(platform)
    response = http.get(
        f"{app.base}/v1/tracks/t1",
        headers={"authorization": f"Bearer {app.token}", "user-agent": "acme-player/7.3.1 (ios)"},
    )
    assert response.status_code == 200
    assert _counted(platform) == before + 1
