"""A logged-in user of one BFF, for the integration tests, and the ways to become one."""

from __future__ import annotations

import httpx

from waveform.supervisor import Platform

#: Where each BFF takes a password grant (the public BFF's is OAuth, for an app: public_user).
LOGIN_PATHS = {"mobile": "/v1/auth/token", "web": "/api/auth/token", "tv": "/v1/auth/token"}


class Caller:
    """A logged-in user of one BFF."""

    def __init__(self, http: httpx.Client, base: str, token: str) -> None:
        self.http = http
        self.base = base
        self.token = token

    def get(self, path: str) -> httpx.Response:
        return self.http.get(
            f"{self.base}{path}", headers={"authorization": f"Bearer {self.token}"}
        )


def login(http: httpx.Client, bff_url: str, path: str, username: str) -> str:
    """A demo user's access token from a password grant at ``bff_url`` + ``path``."""
    response = http.post(
        f"{bff_url}{path}",
        json={"grant_type": "password", "username": username, "password": f"wave-{username}"},
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def signed_in(platform: Platform, http: httpx.Client, bff: str, username: str) -> Caller:
    """``username`` logged in to the platform's ``bff`` (mobile, web or tv)."""
    base = platform.url(bff)
    return Caller(http, base, login(http, base, LOGIN_PATHS[bff], username))


def public_user(platform: Platform, http: httpx.Client, username: str) -> Caller:
    """``username`` using acme-player (the demo third-party app, granted the write scopes)
    on the public BFF."""
    response = http.post(
        f"{platform.url('public')}/v1/oauth/token",
        json={"grant_type": "password", "username": username, "password": f"wave-{username}",
              "client_id": "acme-player"},
    )  # fmt: skip
    assert response.status_code == 200, response.text
    return Caller(http, platform.url("public"), str(response.json()["access_token"]))


def app_grant(
    platform: Platform, http: httpx.Client, secret: str = "acme-secret"
) -> httpx.Response:
    """The public BFF's answer to acme-player's client-credentials grant with ``secret``."""
    return http.post(
        f"{platform.url('public')}/v1/oauth/token",
        data={"grant_type": "client_credentials", "client_id": "acme-player",
              "client_secret": secret},
    )  # fmt: skip


def public_app(platform: Platform, http: httpx.Client) -> Caller:
    """acme-player itself (client credentials): a token that acts for no user."""
    response = app_grant(platform, http)
    assert response.status_code == 200, response.text
    return Caller(http, platform.url("public"), str(response.json()["access_token"]))
