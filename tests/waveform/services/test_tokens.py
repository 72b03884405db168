"""tokens: RFC 8693 exchange within each client's allowance; every service refuses a request
without a valid internal token for itself."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from waiting import until
from waveform.seed import token_client_secret
from waveform.services import SERVICES
from waveform.services.tokens import KEY_FILE
from waveform.supervisor import Platform

GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
#: One authenticated GET per service (tokens' own /stats included).
PROTECTED = {
    "accounts": "/apps/waveform-ios",
    "users": "/users/u1",
    "tracks": "/tracks/t1",
    "playlists": "/playlists/p1",
    "social": "/social/u1/followers",
    "stream": "/stream/u1",
    "recommendations": "/recommendations/u1",
    "media": "/media/t1",
    "rights": "/rights/t1",
    "catalog": "/catalog/tracks/t1",
    "tokens": "/stats",
}


def exchange(
    http: httpx.Client,
    p: Platform,
    client: str,
    audience: str,
    subject: str = "u1",
    scope: str = "",
    secret: str | None = None,
) -> httpx.Response:
    secret = token_client_secret(p.seed, client) if secret is None else secret
    form = {
        "grant_type": GRANT,
        "subject_token": subject,
        "subject_token_type": "urn:waveform:subject",
        "audience": audience,
    }
    if scope:
        form["scope"] = scope
    return http.post(f"{p.url('tokens')}/token", data=form, auth=httpx.BasicAuth(client, secret))


def tokens_key(p: Platform) -> Any:
    return serialization.load_pem_private_key((p.data_dir / KEY_FILE).read_bytes(), password=None)


def forged(p: Platform, audience: str, **overrides: Any) -> str:
    """A token signed with the token service's real key, claims as overridden."""
    now = int(time.time())
    claims = {
        "iss": "waveform-tokens",
        "aud": audience,
        "sub": "u1",
        "act": {"sub": "bff-mobile"},
        "scope": "read",
        "iat": now,
        "exp": now + 60,
    }
    claims.update(overrides)
    kid = jwt.get_unverified_header(p.internal_token("users"))["kid"]
    return jwt.encode(claims, tokens_key(p), algorithm="ES256", headers={"kid": kid})


def test_exchange_issues_a_short_lived_audience_scoped_token(
    platform: Platform, http: httpx.Client
) -> None:
    resp = exchange(http, platform, "bff-mobile", "users", subject="u1")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] <= 60
    assert resp.headers["cache-control"] == "no-store"
    keys = http.get(f"{platform.url('tokens')}/.well-known/jwks.json").json()["keys"]
    header = jwt.get_unverified_header(body["access_token"])
    (jwk,) = [k for k in keys if k["kid"] == header["kid"]]
    claims = jwt.decode(
        body["access_token"],
        jwt.PyJWK(jwk).key,
        algorithms=["ES256"],
        audience="users",
        issuer="waveform-tokens",
    )
    assert claims["sub"] == "u1" and claims["act"] == {"sub": "bff-mobile"}
    assert claims["scope"] == "read" and claims["jti"]
    assert 0 < claims["exp"] - claims["iat"] <= 60


@pytest.mark.parametrize(
    "client, audience, scope",
    [
        ("bff-partner", "accounts", "admin"),  # no BFF may administer accounts
        ("bff-mobile", "accounts", "auth admin"),
        ("bff-partner", "users", ""),  # partners never reach user profiles
        ("catalog", "users", ""),
        ("bff-web", "no-such-service", ""),
        ("bff-mobile", "users", "admin"),
    ],
)
def test_a_request_beyond_the_clients_allowance_is_403(
    platform: Platform, http: httpx.Client, client: str, audience: str, scope: str
) -> None:
    resp = exchange(http, platform, client, audience, scope=scope)
    assert resp.status_code == 403
    assert resp.headers["content-type"] == "application/problem+json"
    assert resp.json()["error"] in {"invalid_target", "invalid_scope"}


def test_a_refused_exchange_is_logged(platform: Platform, http: httpx.Client) -> None:
    exchange(http, platform, "bff-partner", "accounts", scope="admin")
    until(
        lambda: any(
            "bff-partner" in line and "refused" in line
            for line in platform.stderr_tail("tokens", 50)
        ),
        5, "the refusal logged by tokens",
    )  # fmt: skip


@pytest.mark.parametrize("client, secret", [("bff-mobile", "wrong"), ("nobody", "x")])
def test_bad_client_credentials_are_401_invalid_client(
    platform: Platform, http: httpx.Client, client: str, secret: str
) -> None:
    resp = exchange(http, platform, client, "users", secret=secret)
    assert resp.status_code == 401
    assert resp.json()["error"] == "invalid_client"
    assert resp.headers["www-authenticate"].startswith("Basic")


def test_exchange_without_client_authentication_is_401(
    platform: Platform, http: httpx.Client
) -> None:
    resp = http.post(
        f"{platform.url('tokens')}/token",
        data={"grant_type": GRANT, "subject_token": "u1", "audience": "users"},
    )
    assert resp.status_code == 401


@pytest.mark.parametrize(
    "change, error",
    [
        ({"grant_type": "password"}, "unsupported_grant_type"),
        ({"subject_token": "u1/../admin"}, "invalid_request"),
        ({"subject_token_type": "urn:ietf:params:oauth:token-type:jwt"}, "invalid_request"),
        ({"audience": ""}, "invalid_request"),
    ],
)
def test_malformed_exchange_is_400(
    platform: Platform, http: httpx.Client, change: dict[str, str], error: str
) -> None:
    form = {
        "grant_type": GRANT,
        "subject_token": "u1",
        "subject_token_type": "urn:waveform:subject",
        "audience": "users",
        **change,
    }
    secret = token_client_secret(platform.seed, "bff-mobile")
    resp = http.post(
        f"{platform.url('tokens')}/token", data=form, auth=httpx.BasicAuth("bff-mobile", secret)
    )
    assert resp.status_code == 400
    assert resp.json()["error"] == error


# -- every service checks its tokens ------------------------------------------------------


def _refused(resp: httpx.Response) -> None:
    assert resp.status_code == 401, resp.text
    assert resp.headers["content-type"] == "application/problem+json"
    assert "Traceback" not in resp.text


def test_every_service_is_covered() -> None:
    assert set(PROTECTED) == set(SERVICES)


@pytest.mark.parametrize("service", sorted(PROTECTED))
def test_a_request_without_a_token_is_401(platform: Platform, service: str) -> None:
    _refused(httpx.get(platform.url(service) + PROTECTED[service]))


@pytest.mark.parametrize("service", sorted(PROTECTED))
def test_a_token_for_another_audience_is_401(platform: Platform, service: str) -> None:
    other = "media" if service != "media" else "users"
    token = platform.internal_token(other, scope="read")
    _refused(
        httpx.get(
            platform.url(service) + PROTECTED[service],
            headers={"authorization": f"Bearer {token}"},
        )
    )


@pytest.mark.parametrize("service", sorted(PROTECTED))
def test_an_expired_token_is_401(platform: Platform, service: str) -> None:
    now = int(time.time())
    token = forged(platform, service, iat=now - 120, exp=now - 60)
    _refused(
        httpx.get(
            platform.url(service) + PROTECTED[service],
            headers={"authorization": f"Bearer {token}"},
        )
    )


@pytest.mark.parametrize(
    "overrides",
    [{"iss": "waveform-accounts"}, {"exp": int(time.time()) + 3600}, {"act": None}],
    ids=["wrong-issuer", "too-long-lived", "no-actor"],
)
def test_a_validly_signed_but_wrong_token_is_401(
    platform: Platform, overrides: dict[str, Any]
) -> None:
    token = forged(platform, "users", **overrides)
    _refused(
        httpx.get(f"{platform.url('users')}/users/u1", headers={"authorization": f"Bearer {token}"})
    )


def test_a_forged_token_is_what_the_refusals_above_hinge_on(platform: Platform) -> None:
    # Without this, a broken forger would make every refusal test pass for the wrong reason.
    token = forged(platform, "users")
    resp = httpx.get(
        f"{platform.url('users')}/users/u1", headers={"authorization": f"Bearer {token}"}
    )
    assert resp.status_code == 200


@pytest.mark.parametrize("alg", ["none", "HS256"])
def test_a_token_with_another_algorithm_is_401(platform: Platform, alg: str) -> None:
    now = int(time.time())
    claims = {"iss": "waveform-tokens", "aud": "users", "sub": "u1", "act": {"sub": "x"},
              "iat": now, "exp": now + 60}  # fmt: skip
    if alg == "none":
        token = jwt.encode(claims, None, algorithm="none")
    else:  # HS256 keyed with the public key: the classic key-confusion forgery
        pem = (
            tokens_key(platform)
            .public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        header = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').rstrip(b"=")
        payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=")
        signing_input = header + b"." + payload
        sig = base64.urlsafe_b64encode(
            hmac.new(pem, signing_input, hashlib.sha256).digest()
        ).rstrip(b"=")
        token = (signing_input + b"." + sig).decode()
    _refused(
        httpx.get(f"{platform.url('users')}/users/u1", headers={"authorization": f"Bearer {token}"})
    )


def test_health_and_openapi_need_no_token(platform: Platform) -> None:
    for service in SERVICES:
        assert httpx.get(f"{platform.url(service)}/healthz").status_code == 200
        assert httpx.get(f"{platform.url(service)}/openapi.json").status_code == 200


def test_accounts_admin_needs_the_admin_scope(platform: Platform) -> None:
    token = platform.internal_token("accounts", "bff-mobile", scope="auth")
    resp = httpx.post(
        f"{platform.url('accounts')}/admin/partners/p-acme/keys",
        headers={"authorization": f"Bearer {token}"},
    )
    assert resp.status_code == 403
    assert resp.headers["content-type"] == "application/problem+json"


# -- a partner's label ----------------------------------------------------------------------


def _claims(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


def test_a_token_about_a_partner_carries_the_label_accounts_records_for_it(
    platform: Platform, http: httpx.Client
) -> None:
    resp = exchange(http, platform, "bff-partner", "rights", subject="partner:p-globex")
    assert resp.status_code == 200, resp.text
    recorded = http.get(f"{platform.url('accounts')}/partners/p-globex").json()["label"]
    assert _claims(resp.json()["access_token"])["label"] == recorded == "Globex Music"


def test_a_label_sent_with_the_exchange_is_ignored(platform: Platform, http: httpx.Client) -> None:
    secret = token_client_secret(platform.seed, "bff-partner")
    form = {"grant_type": GRANT, "subject_token": "partner:p-acme",
            "subject_token_type": "urn:waveform:subject", "audience": "rights",
            "label": "Globex Music"}  # fmt: skip
    resp = http.post(f"{platform.url('tokens')}/token", data=form,
                     auth=httpx.BasicAuth("bff-partner", secret))  # fmt: skip
    assert _claims(resp.json()["access_token"])["label"] == "Acme Records"


def test_a_token_about_anyone_but_a_partner_carries_no_label(
    platform: Platform, http: httpx.Client
) -> None:
    resp = exchange(http, platform, "bff-public", "rights", subject="app:acme-player")
    assert "label" not in _claims(resp.json()["access_token"])


def test_an_exchange_for_a_partner_the_platform_does_not_know_is_400(
    platform: Platform, http: httpx.Client
) -> None:
    resp = exchange(http, platform, "bff-partner", "rights", subject="partner:p-nobody")
    assert resp.status_code == 400
    assert resp.headers["content-type"] == "application/problem+json"
    assert resp.json()["error"] == "invalid_request"
