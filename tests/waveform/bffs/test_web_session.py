"""Browser sessions on the running web BFF (the demo's plain-http cookie settings)."""

from __future__ import annotations

import httpx

from waveform.supervisor import Platform

COOKIE = "waveform-session"


def _login(platform: Platform, http: httpx.Client) -> httpx.Response:
    base = platform.url("web")
    return http.post(
        f"{base}/api/session",
        json={"username": "alice", "password": "wave-alice"},
        headers={"origin": base},
    )


def test_login_sets_an_httponly_lax_cookie_and_returns_a_csrf_token(
    platform: Platform, http: httpx.Client
) -> None:
    response = _login(platform, http)
    assert response.status_code == 200
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Path=/" in cookie
    assert response.json()["user_id"] == "u1" and len(response.json()["csrf_token"]) >= 32
    assert response.headers["cache-control"] == "no-store"


def test_the_session_reads_the_users_pages(platform: Platform, http: httpx.Client) -> None:
    session = _login(platform, http).headers["set-cookie"].split(";")[0]
    response = http.get(f"{platform.url('web')}/api/me", headers={"cookie": session})
    assert response.status_code == 200 and response.json()["id"] == "u1"


def test_get_session_returns_the_same_csrf_token(platform: Platform, http: httpx.Client) -> None:
    login = _login(platform, http)
    session = login.headers["set-cookie"].split(";")[0]
    current = http.get(f"{platform.url('web')}/api/session", headers={"cookie": session})
    assert current.json()["csrf_token"] == login.json()["csrf_token"]


def test_logout_expires_the_cookie(platform: Platform, http: httpx.Client) -> None:
    base = platform.url("web")
    login = _login(platform, http)
    session = login.headers["set-cookie"].split(";")[0]
    response = http.delete(
        f"{base}/api/session",
        headers={"cookie": session, "origin": base, "x-csrf-token": login.json()["csrf_token"]},
    )
    assert response.status_code == 204
    assert "Max-Age=0" in response.headers["set-cookie"]
    assert http.get(f"{base}/api/me", headers={"cookie": session}).status_code == 401
