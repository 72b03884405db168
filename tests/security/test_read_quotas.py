"""Reads are metered on every reference BFF (``waveform.bffs.quotas``): per user, and per app by
the app's tier. A read carries the RateLimit headers naming both quotas; a caller past one gets
429 problem+json with Retry-After. The refusals are shown on an extra mobile BFF whose profile
has a small quota (the platform's own quotas are too generous for a test to reach)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from waveform.supervisor import Platform

from .conftest import ExtraBFF, assert_denied, bearer, partner_client

TRACK = "/v1/tracks/t1"


@pytest.mark.parametrize(
    "bff, path, token",
    [
        ("mobile", TRACK, "mobile_token"),
        ("web", "/api/tracks/t1", "web_token"),
        ("public", TRACK, "public_user_token"),
    ],
)
def test_a_users_read_carries_ratelimit_headers_naming_the_user_and_app_quotas(
    platform: Platform,
    http: httpx.Client,
    request: pytest.FixtureRequest,
    bff: str,
    path: str,
    token: str,
) -> None:
    headers = bearer(request.getfixturevalue(token))
    response = http.get(f"{platform.url(bff)}{path}", headers=headers)
    assert response.status_code == 200, response.text
    policies = response.headers["ratelimit-policy"]
    assert '"user-read"' in policies and '"app-read"' in policies
    assert '"user-read"' in response.headers["ratelimit"]


def test_a_partners_read_carries_ratelimit_headers_naming_its_quota(
    platform: Platform, acme_key: str
) -> None:
    with partner_client(platform) as client:
        response = client.get(
            f"{platform.url('partner')}/v1/partner", headers={"x-api-key": acme_key}
        )
    assert response.status_code == 200, response.text
    assert '"app-read"' in response.headers["ratelimit-policy"]
    assert '"app-read"' in response.headers["ratelimit"]


def _mobile_with(platform: Platform, policies: dict[str, Any]) -> Iterator[ExtraBFF]:
    bff = ExtraBFF(platform, "mobile", overrides={"rate_limit": {"policies": policies}})
    yield bff
    bff.close()


@pytest.fixture(scope="module")
def small_user_quota(platform: Platform) -> Iterator[ExtraBFF]:
    yield from _mobile_with(platform, {"user-read": {"limit": 3}})


@pytest.fixture(scope="module")
def small_first_party_quota(platform: Platform) -> Iterator[ExtraBFF]:
    yield from _mobile_with(platform, {"app-read": {"tiers": {"first-party": 3}}})


def _reads_past(bff: ExtraBFF, http: httpx.Client, token: str, quota: int) -> httpx.Response:
    """Reads ``quota`` times (each allowed), then once more: that answer."""
    for _ in range(quota):
        assert http.get(f"{bff.url}{TRACK}", headers=bearer(token)).status_code == 200
    return http.get(f"{bff.url}{TRACK}", headers=bearer(token))


def test_a_user_past_the_read_quota_is_refused_429(
    small_user_quota: ExtraBFF, http: httpx.Client, mobile_token: str
) -> None:
    refused = _reads_past(small_user_quota, http, mobile_token, 3)
    assert_denied(refused, 429)
    assert int(refused.headers["retry-after"]) >= 1
    assert '"user-read";r=0' in refused.headers["ratelimit"]


def test_an_app_past_its_tiers_read_quota_is_refused_429(
    small_first_party_quota: ExtraBFF, http: httpx.Client, mobile_token: str
) -> None:
    refused = _reads_past(small_first_party_quota, http, mobile_token, 3)
    assert_denied(refused, 429)
    assert '"app-read";r=0' in refused.headers["ratelimit"]
