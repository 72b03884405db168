"""Refresh tokens through the mobile BFF: rotation, reuse, audience."""

from __future__ import annotations

import httpx

from waveform.supervisor import Platform


def _login(platform: Platform, http: httpx.Client) -> dict[str, str]:
    response = http.post(
        f"{platform.url('mobile')}/v1/auth/token",
        json={"grant_type": "password", "username": "alice", "password": "wave-alice"},
    )
    assert response.status_code == 200
    return dict(response.json())


def _refresh(platform: Platform, http: httpx.Client, token: str, bff: str = "mobile",
             path: str = "/v1/auth/token") -> httpx.Response:  # fmt: skip
    return http.post(
        f"{platform.url(bff)}{path}",
        json={"grant_type": "refresh_token", "refresh_token": token},
    )


def test_a_refresh_grant_returns_a_working_access_token_and_a_new_refresh_token(
    platform: Platform, http: httpx.Client
) -> None:
    first = _login(platform, http)
    response = _refresh(platform, http, first["refresh_token"])
    assert response.status_code == 200
    body = response.json()
    assert body["refresh_token"] != first["refresh_token"]
    home = http.get(
        f"{platform.url('mobile')}/v1/home",
        headers={"authorization": f"Bearer {body['access_token']}"},
    )
    assert home.status_code == 200


def test_a_rotated_refresh_token_cannot_be_used_again(
    platform: Platform, http: httpx.Client
) -> None:
    first = _login(platform, http)
    assert _refresh(platform, http, first["refresh_token"]).status_code == 200
    again = _refresh(platform, http, first["refresh_token"])
    assert again.status_code == 401
    assert again.headers["content-type"] == "application/problem+json"


def test_a_mobile_refresh_token_gets_nothing_from_the_web_bff(
    platform: Platform, http: httpx.Client
) -> None:
    first = _login(platform, http)
    response = _refresh(platform, http, first["refresh_token"], "web", "/api/auth/token")
    assert response.status_code == 401
