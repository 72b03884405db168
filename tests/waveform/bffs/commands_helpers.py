"""Commands sent to a BFF as a signed-in user, for the command tests."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from waveform.supervisor import Platform

from .caller import Caller
from .conftest import login


def send(
    caller: Caller,
    method: str,
    path: str,
    body: Any = None,
    *,
    key: str | None = None,
    if_match: str | None = None,
) -> httpx.Response:
    headers = {"authorization": f"Bearer {caller.token}"}
    if key is not None:
        headers["idempotency-key"] = f'"{key}"'
    if if_match is not None:
        headers["if-match"] = if_match
    return caller.http.request(method, f"{caller.base}{path}", json=body, headers=headers)


def fresh_key() -> str:
    return str(uuid.uuid4())


def public_user(platform: Platform, http: httpx.Client, username: str) -> Caller:
    """A user of the demo third-party app (acme-player, granted the write scopes)."""
    response = http.post(
        f"{platform.url('public')}/v1/oauth/token",
        json={"grant_type": "password", "username": username, "password": f"wave-{username}",
              "client_id": "acme-player"},
    )  # fmt: skip
    assert response.status_code == 200, response.text
    return Caller(http, platform.url("public"), str(response.json()["access_token"]))


def public_app(platform: Platform, http: httpx.Client) -> Caller:
    """The app itself (client credentials): a token that acts for no user."""
    response = http.post(
        f"{platform.url('public')}/v1/oauth/token",
        data={"grant_type": "client_credentials", "client_id": "acme-player",
              "client_secret": "acme-secret"},
    )  # fmt: skip
    assert response.status_code == 200, response.text
    return Caller(http, platform.url("public"), str(response.json()["access_token"]))


def web_user(platform: Platform, http: httpx.Client, username: str) -> Caller:
    base = platform.url("web")
    return Caller(http, base, login(http, base, "/api/auth/token", username))
