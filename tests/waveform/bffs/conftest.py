"""The whole reference platform (services and both BFFs) on ephemeral loopback ports, shared
by the session, plus tokens for the demo users."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from waveform.supervisor import Platform

from .caller import Caller

SCALE = 2000


@pytest.fixture(scope="session")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    data_dir: Path = tmp_path_factory.mktemp("waveform-platform")
    with Platform(data_dir, ephemeral=True, scale=SCALE) as p:
        assert not p.failures, [f.describe() for f in p.failures.values()]
        yield p


@pytest.fixture(scope="session")
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as client:
        yield client


def login(http: httpx.Client, bff_url: str, path: str, username: str) -> str:
    response = http.post(
        f"{bff_url}{path}",
        json={"grant_type": "password", "username": username, "password": f"wave-{username}"},
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


@pytest.fixture(scope="session")
def mobile_alice(platform: Platform, http: httpx.Client) -> Caller:
    base = platform.url("mobile")
    return Caller(http, base, login(http, base, "/v1/auth/token", "alice"))


@pytest.fixture(scope="session")
def mobile_bob(platform: Platform, http: httpx.Client) -> Caller:
    base = platform.url("mobile")
    return Caller(http, base, login(http, base, "/v1/auth/token", "bob"))


@pytest.fixture(scope="session")
def web_alice(platform: Platform, http: httpx.Client) -> Caller:
    base = platform.url("web")
    return Caller(http, base, login(http, base, "/api/auth/token", "alice"))


@pytest.fixture(scope="session")
def web_bob(platform: Platform, http: httpx.Client) -> Caller:
    base = platform.url("web")
    return Caller(http, base, login(http, base, "/api/auth/token", "bob"))
