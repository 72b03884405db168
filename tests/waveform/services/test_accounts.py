"""accounts: login issues RS256 JWTs verifiable with the JWKS; failures do not leak."""

from __future__ import annotations

import httpx
import jwt

from waveform.supervisor import Platform


def login(
    http: httpx.Client, p: Platform, username: str, password: str, audience: str = "waveform-mobile"
) -> httpx.Response:
    return http.post(
        f"{p.url('accounts')}/login",
        json={"username": username, "password": password, "audience": audience},
    )


def test_login_issues_rs256_jwt_verifiable_with_jwks(
    platform: Platform, http: httpx.Client
) -> None:
    resp = login(http, platform, "alice", "wave-alice")
    assert resp.status_code == 200
    body = resp.json()
    assert body["user_id"] == "u1" and body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    keys = http.get(f"{platform.url('accounts')}/.well-known/jwks.json").json()["keys"]
    header = jwt.get_unverified_header(body["access_token"])
    assert header["alg"] == "RS256"
    (jwk,) = [k for k in keys if k["kid"] == header["kid"]]
    assert jwk["use"] == "sig" and jwk["kty"] == "RSA"
    key = jwt.PyJWK(jwk).key
    claims = jwt.decode(
        body["access_token"],
        key,
        algorithms=["RS256"],
        audience="waveform-mobile",
        issuer="waveform-accounts",
    )
    assert claims["sub"] == "u1" and claims["scope"] == "user"
    assert claims["exp"] - claims["iat"] == 900


def test_wrong_password_and_unknown_user_get_the_same_401(
    platform: Platform, http: httpx.Client
) -> None:
    wrong = login(http, platform, "alice", "nope")
    unknown = login(http, platform, "mallory", "nope")
    no_password = login(http, platform, "user999", "x")
    for resp in (wrong, unknown, no_password):
        assert resp.status_code == 401
        assert resp.headers["content-type"] == "application/problem+json"
    assert wrong.json() == unknown.json() == no_password.json()


def test_unknown_audience_is_400(platform: Platform, http: httpx.Client) -> None:
    resp = login(http, platform, "alice", "wave-alice", audience="evil-app")
    assert resp.status_code == 400
    assert resp.headers["content-type"] == "application/problem+json"


def test_account_row_is_the_full_internal_record(platform: Platform, http: httpx.Client) -> None:
    body = http.get(f"{platform.url('accounts')}/accounts/u2").json()
    assert body["password_hash"].startswith("scrypt$")
    assert {"created_at", "last_login_at", "failed_logins"} <= body.keys()
