"""Spoofed identity headers: an echo upstream behind a real mobile BFF process proves that
what a client sends as X-User-Id, an internal token or X-Forwarded-For never arrives, and
that the client's own credential never travels inward."""

from __future__ import annotations

import httpx
import pytest

from waveform.supervisor import Platform

from .conftest import Echo, ExtraBFF

SPOOFED = {
    "x-user-id": "u2",
    "x-viewer-country": "US",
    "x-internal-token": "forged-internal-token",
    "x-forwarded-for": "203.0.113.99",
    "x-forwarded-user": "u2",
    "forwarded": "for=203.0.113.99",
    "x-real-ip": "203.0.113.99",
}


@pytest.fixture(scope="module")
def seen(platform: Platform, http: httpx.Client, echo: Echo,
         echoed_mobile: ExtraBFF) -> list[dict[str, str]]:  # fmt: skip
    """Log in as alice (u1) at the echo-backed mobile BFF and call the track screen with
    every spoofed header; return the headers of each inward request the echo received."""
    login = http.post(f"{echoed_mobile.url}/v1/auth/token",
                      json={"grant_type": "password", "username": "alice",
                            "password": "wave-alice"})  # fmt: skip
    assert login.status_code == 200, login.text
    token = login.json()["access_token"]
    before = len(echo.requests)
    response = http.get(
        f"{echoed_mobile.url}/v1/users/u2",
        headers={"authorization": f"Bearer {token}", **SPOOFED},
    )
    assert response.status_code == 200, response.text
    inward = [headers for _, headers in echo.requests[before:]]
    assert inward, "the BFF made inward calls to the echo"
    return [{**h, "_client_token": token} for h in inward]


@pytest.mark.parametrize("name", sorted(SPOOFED))
def test_a_spoofed_header_never_reaches_a_service(seen: list[dict[str, str]], name: str) -> None:
    for headers in seen:
        assert headers.get(name) != SPOOFED[name]
        assert SPOOFED[name] not in {v for k, v in headers.items() if k != "_client_token"}


def test_the_caller_a_service_sees_is_the_authenticated_one(seen: list[dict[str, str]]) -> None:
    import jwt

    subjects = set()
    for headers in seen:
        internal = headers["authorization"].partition(" ")[2]
        subjects.add(jwt.decode(internal, options={"verify_signature": False})["sub"])
        assert headers.get("x-user-id", "u1") == "u1"
    assert subjects == {"u1"}


def test_the_clients_own_token_never_travels_inward(seen: list[dict[str, str]]) -> None:
    for headers in seen:
        client_token = headers["_client_token"]
        assert all(client_token not in v for k, v in headers.items() if k != "_client_token")


def test_inward_calls_carry_an_internal_token_instead(seen: list[dict[str, str]]) -> None:
    for headers in seen:
        scheme, _, token = headers.get("authorization", "").partition(" ")
        assert scheme.lower() == "bearer" and token and token != headers["_client_token"]
