"""Credential guessing from one client IP: after the profile's quota of failed
authentications (``rate_limit.auth_failures``: 100 per 600 s on every waveform BFF) the
guesser gets 429 problem+json with Retry-After, before its next guess is even checked; other
IPs and valid callers are unaffected.

Each guesser binds its own loopback source address (127.0.0.x: all of 127/8 is the loopback
interface), so the BFF sees a distinct client IP and the rest of the suite, which calls from
127.0.0.1, is never throttled by it."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from waveform.supervisor import Platform

from .conftest import assert_denied, bearer

LIMIT = 100  # the waveform profiles' rate_limit.auth_failures.limit
TRACK = "/v1/tracks/t1"  # a mobile route that needs a bearer token


def client_from(ip: str) -> httpx.Client:
    return httpx.Client(timeout=10, transport=httpx.HTTPTransport(local_address=ip))


@pytest.fixture(scope="module")
def token_guesser(platform: Platform) -> Iterator[list[httpx.Response]]:
    """A client at 127.0.0.2 guessing bearer tokens at the mobile BFF, one past the quota."""
    url = f"{platform.url('mobile')}{TRACK}"
    with client_from("127.0.0.2") as guesser:
        responses = [guesser.get(url, headers=bearer(f"guess-{i}")) for i in range(LIMIT + 1)]
    # The tests below compare others with a refused guesser: it must have been refused.
    assert responses[-1].status_code == 429, responses[-1].text[:300]
    yield responses


def test_a_token_guesser_is_refused_with_429_after_the_quota(
    token_guesser: list[httpx.Response],
) -> None:
    assert [r.status_code for r in token_guesser] == [401] * LIMIT + [429]


def test_the_guessers_429_is_a_problem_with_retry_after(
    token_guesser: list[httpx.Response],
) -> None:
    refused = token_guesser[-1]
    assert_denied(refused, 429)
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.headers["ratelimit-policy"] == f'"auth-failures";q={LIMIT};w=600'


def test_a_blocked_guesser_is_refused_even_with_a_valid_token(
    platform: Platform, token_guesser: list[httpx.Response], mobile_token: str
) -> None:
    with client_from("127.0.0.2") as guesser:
        response = guesser.get(f"{platform.url('mobile')}{TRACK}", headers=bearer(mobile_token))
    assert_denied(response, 429)


def test_another_ip_still_gets_its_401(
    platform: Platform, token_guesser: list[httpx.Response]
) -> None:
    with client_from("127.0.0.3") as other:
        response = other.get(f"{platform.url('mobile')}{TRACK}", headers=bearer("guess"))
    assert_denied(response, 401)


def test_a_valid_caller_is_served(
    platform: Platform, http: httpx.Client, token_guesser: list[httpx.Response], mobile_token: str
) -> None:
    response = http.get(f"{platform.url('mobile')}{TRACK}", headers=bearer(mobile_token))
    assert response.status_code == 200, response.text[:300]


def test_a_session_cookie_guesser_is_refused_with_429_after_the_quota(
    platform: Platform,
) -> None:
    url = f"{platform.url('web')}/api/session"
    with client_from("127.0.0.4") as guesser:
        codes = [
            guesser.get(url, headers={"cookie": f"waveform-session=guess-{i}"}).status_code
            for i in range(LIMIT + 1)
        ]
    assert codes == [401] * LIMIT + [429]


def test_stale_session_cookies_never_lock_an_address_out_of_logging_in(
    platform: Platform,
) -> None:
    """Browsers behind one address retrying cookies of sessions the store no longer knows
    (say, after it lost them): each gets a 401 clearing the cookie, none counts as a guess."""
    base = platform.url("web")
    with client_from("127.0.0.5") as browsers:
        stale = [
            browsers.get(
                f"{base}/api/me", headers={"cookie": f"waveform-session={'S' * 42}{i % 10}"}
            )
            for i in range(LIMIT + 1)
        ]
        login = browsers.post(
            f"{base}/api/session",
            json={"username": "alice", "password": "wave-alice"},
            headers={"origin": base},
        )
    assert [r.status_code for r in stale] == [401] * (LIMIT + 1)
    assert all("Max-Age=0" in r.headers["set-cookie"] for r in stale)
    assert login.status_code == 200, login.text
