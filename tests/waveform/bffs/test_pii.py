"""No field classified as PII leaves through a BFF: not its key, not its value."""

from __future__ import annotations

import httpx
import pytest

from waveform.supervisor import Platform

PII_KEYS = ("email", "date_of_birth", "phone", "password_hash", "last_login_ip")

MOBILE_PATHS = ["/v1/home", "/v1/users/u1", "/v1/users/u2", "/v1/tracks/t1", "/v1/playlists/p1"]
WEB_PATHS = ["/api/me", "/api/stream", "/api/users/u1", "/api/users/u2", "/api/tracks/t1",
             "/api/playlists/p1"]  # fmt: skip


def _pii_values(platform: Platform, http: httpx.Client) -> list[str]:
    values = []
    for user in ("u1", "u2", "u3"):
        record = http.get(f"{platform.url('users')}/users/{user}").json()
        values += [str(record[k]) for k in PII_KEYS if record.get(k)]
        account = http.get(f"{platform.url('accounts')}/accounts/{user}").json()
        if account.get("password_hash"):
            values.append(account["password_hash"])
    assert values, "the services do hold PII, so its absence below means something"
    return values


@pytest.mark.parametrize(
    "caller, path",
    [("mobile_alice", p) for p in MOBILE_PATHS] + [("web_alice", p) for p in WEB_PATHS],
)
def test_no_pii_key_or_value_appears_in_a_bff_response(
    platform: Platform, http: httpx.Client, request: pytest.FixtureRequest, caller: str, path: str
) -> None:
    response = request.getfixturevalue(caller).get(path)
    assert response.status_code == 200, response.text
    text = response.text
    for key in PII_KEYS:
        assert f'"{key}"' not in text
    for value in _pii_values(platform, http):
        assert value not in text
