"""accounts: login issues RS256 JWTs verifiable with the JWKS; failures do not leak."""

from __future__ import annotations

import hashlib
import sqlite3

import httpx
import jwt

from waveform.seed import World
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


# -- refresh tokens ------------------------------------------------------------------------


def refresh(http: httpx.Client, p: Platform, token: str, **extra: str) -> httpx.Response:
    return http.post(
        f"{p.url('accounts')}/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": token, **extra},
    )


def test_login_names_the_app_and_defaults_it_per_audience(
    platform: Platform, http: httpx.Client
) -> None:
    mobile = login(http, platform, "bob", "wave-bob").json()
    claims = jwt.decode(mobile["access_token"], options={"verify_signature": False})
    assert claims["client_id"] == "waveform-ios" and claims["jti"]
    assert mobile["refresh_token"].startswith("rt_")
    narrow = http.post(
        f"{platform.url('accounts')}/login",
        json={"username": "bob", "password": "wave-bob", "audience": "waveform-mobile",
              "client_id": "narrow-widget"},
    )  # fmt: skip
    assert (
        jwt.decode(narrow.json()["access_token"], options={"verify_signature": False})["client_id"]
        == "narrow-widget"
    )


def test_login_for_an_app_not_registered_for_that_audience_is_400(
    platform: Platform, http: httpx.Client
) -> None:
    resp = http.post(
        f"{platform.url('accounts')}/login",
        json={"username": "bob", "password": "wave-bob", "audience": "waveform-web",
              "client_id": "waveform-ios"},
    )  # fmt: skip
    assert resp.status_code == 400


def test_refresh_rotates_the_refresh_token(platform: Platform, http: httpx.Client) -> None:
    first = login(http, platform, "carol", "wave-carol").json()["refresh_token"]
    resp = refresh(http, platform, first)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["refresh_token"] != first and body["user_id"] == "u3"
    assert resp.headers["cache-control"] == "no-store"
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["aud"] == "waveform-mobile" and claims["sub"] == "u3"
    assert refresh(http, platform, body["refresh_token"]).status_code == 200


def test_reusing_a_rotated_refresh_token_revokes_the_whole_family(
    platform: Platform, http: httpx.Client
) -> None:
    first = login(http, platform, "dave", "wave-dave").json()["refresh_token"]
    second = refresh(http, platform, first).json()["refresh_token"]
    reused = refresh(http, platform, first)
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
    # The legitimate holder's newer token dies with the family.
    assert refresh(http, platform, second).status_code == 400


def test_refresh_for_another_audience_is_invalid_grant(
    platform: Platform, http: httpx.Client
) -> None:
    token = login(http, platform, "erin", "wave-erin").json()["refresh_token"]
    resp = refresh(http, platform, token, audience="waveform-web")
    assert resp.status_code == 400 and resp.json()["error"] == "invalid_grant"


def test_unknown_refresh_token_and_grant_type_are_rfc6749_errors(
    platform: Platform, http: httpx.Client
) -> None:
    unknown = refresh(http, platform, "rt_nonsense")
    assert unknown.status_code == 400 and unknown.json()["error"] == "invalid_grant"
    assert unknown.headers["content-type"] == "application/problem+json"
    grant = http.post(f"{platform.url('accounts')}/oauth/token", data={"grant_type": "password"})
    assert grant.status_code == 400 and grant.json()["error"] == "unsupported_grant_type"


# -- client credentials ----------------------------------------------------------------------


def client_credentials(
    http: httpx.Client, p: Platform, client_id: str, secret: str, **extra: str
) -> httpx.Response:
    return http.post(
        f"{p.url('accounts')}/oauth/token",
        data={"grant_type": "client_credentials", "client_id": client_id,
              "client_secret": secret, **extra},
    )  # fmt: skip


def test_client_credentials_issue_an_app_token(platform: Platform, http: httpx.Client) -> None:
    resp = client_credentials(http, platform, "acme-player", "acme-secret")
    assert resp.status_code == 200, resp.text
    claims = jwt.decode(resp.json()["access_token"], options={"verify_signature": False})
    assert claims["sub"] == claims["client_id"] == "acme-player"
    assert claims["aud"] == "waveform-public"
    assert set(claims["scope"].split()) == {"tracks:read", "users:read"}


def test_client_credentials_narrow_the_scope_on_request(
    platform: Platform, http: httpx.Client
) -> None:
    resp = client_credentials(http, platform, "acme-player", "acme-secret", scope="tracks:read")
    assert resp.json()["scope"] == "tracks:read"


def test_wrong_secret_and_unknown_client_are_the_same_401(
    platform: Platform, http: httpx.Client
) -> None:
    wrong = client_credentials(http, platform, "acme-player", "nope")
    unknown = client_credentials(http, platform, "no-such-app", "nope")
    public_client = client_credentials(http, platform, "waveform-ios", "nope")
    for resp in (wrong, unknown, public_client):
        assert resp.status_code == 401
        assert resp.json()["error"] == "invalid_client"
    assert wrong.json() == unknown.json() == public_client.json()


def test_a_scope_beyond_the_apps_is_invalid_scope(platform: Platform, http: httpx.Client) -> None:
    resp = client_credentials(http, platform, "acme-player", "acme-secret", scope="admin")
    assert resp.status_code == 400 and resp.json()["error"] == "invalid_scope"


# -- app registry ----------------------------------------------------------------------------


def test_app_registry_entry(platform: Platform, http: httpx.Client) -> None:
    body = http.get(f"{platform.url('accounts')}/apps/narrow-widget").json()
    assert body == {
        "client_id": "narrow-widget",
        "name": body["name"],
        "status": "active",
        "bffs": ["mobile"],
        "routes": {"mobile": ["GET /v1/tracks/{id}"]},
        "scopes": ["user"],
        "tier": "free",
    }
    assert http.get(f"{platform.url('accounts')}/apps/suspended-app").json()["status"] == (
        "suspended"
    )
    assert http.get(f"{platform.url('accounts')}/apps/nope").status_code == 404


def test_app_status_change_is_visible_in_the_registry(
    platform: Platform, http: httpx.Client
) -> None:
    url = f"{platform.url('accounts')}/admin/apps/acme-player/status"
    try:
        assert http.post(url, json={"status": "suspended"}).json()["status"] == "suspended"
        assert http.get(f"{platform.url('accounts')}/apps/acme-player").json()["status"] == (
            "suspended"
        )
    finally:
        assert http.post(url, json={"status": "active"}).status_code == 200
    assert http.post(url, json={"status": "deleted"}).status_code == 400


def test_app_secrets_are_stored_hashed(platform: Platform) -> None:
    conn = sqlite3.connect(platform.data_dir / "accounts.sqlite3")
    try:
        stored = conn.execute("SELECT secret_hash FROM apps WHERE client_id = 'acme-player'")
        (value,) = stored.fetchone()
    finally:
        conn.close()
    assert value.startswith("scrypt$") and "acme-secret" not in value


# -- partners and API keys ---------------------------------------------------------------


def verify_key(http: httpx.Client, p: Platform, key: str) -> httpx.Response:
    return http.post(f"{p.url('accounts')}/keys/verify", json={"api_key": key})


def test_api_key_is_shown_once_stored_as_sha256_and_verifies(
    platform: Platform, http: httpx.Client
) -> None:
    resp = http.post(f"{platform.url('accounts')}/admin/partners/p-globex/keys")
    assert resp.status_code == 201
    body = resp.json()
    assert body["api_key"].startswith("wf_live_") and len(body["api_key"]) >= 40
    assert resp.headers["cache-control"] == "no-store"
    verified = verify_key(http, platform, body["api_key"]).json()
    assert verified == {"partner_id": "p-globex", "key_id": body["key_id"],
                        "scopes": ["partner:read"]}  # fmt: skip
    db = (platform.data_dir / "accounts.sqlite3").read_bytes()
    assert body["api_key"].encode() not in db
    conn = sqlite3.connect(platform.data_dir / "accounts.sqlite3")
    try:
        (stored,) = conn.execute(
            "SELECT key_hash FROM api_keys WHERE key_id = ?", (body["key_id"],)
        ).fetchone()
    finally:
        conn.close()
    assert stored == hashlib.sha256(body["api_key"].encode()).hexdigest()


def test_a_revoked_key_gets_the_same_401_as_an_unknown_one(
    platform: Platform, http: httpx.Client
) -> None:
    created = http.post(f"{platform.url('accounts')}/admin/partners/p-acme/keys").json()
    url = f"{platform.url('accounts')}/admin/partners/p-acme/keys/{created['key_id']}"
    assert http.delete(url).status_code == 204
    revoked = verify_key(http, platform, created["api_key"])
    unknown = verify_key(http, platform, "wf_live_" + "x" * 43)
    assert revoked.status_code == unknown.status_code == 401
    assert revoked.json() == unknown.json()


def test_a_key_cannot_be_revoked_through_another_partner(
    platform: Platform, http: httpx.Client
) -> None:
    created = http.post(f"{platform.url('accounts')}/admin/partners/p-acme/keys").json()
    url = f"{platform.url('accounts')}/admin/partners/p-globex/keys/{created['key_id']}"
    assert http.delete(url).status_code == 404
    assert verify_key(http, platform, created["api_key"]).status_code == 200


def test_seeded_demo_keys_verify_as_their_partner(platform: Platform, http: httpx.Client) -> None:
    world = World(seed=platform.seed, scale=platform.scale)
    for partner, key in world.partner_keys.items():
        assert verify_key(http, platform, key).json()["partner_id"] == partner


def test_partner_certificates_map_to_partners(platform: Platform, http: httpx.Client) -> None:
    url = f"{platform.url('accounts')}/partners/by-certificate"
    assert http.get(url, params={"subject": "p-acme"}).json() == {"partner_id": "p-acme"}
    uri = "urn:waveform:partner:p-globex"
    assert http.get(url, params={"subject": uri}).json() == {"partner_id": "p-globex"}
    assert http.get(url, params={"subject": "p-evil"}).status_code == 404
    partner = http.get(f"{platform.url('accounts')}/partners/p-acme").json()
    assert partner["label"] == "Acme Records"


# -- signing key rotation -------------------------------------------------------------------


def test_rotation_publishes_the_new_key_and_keeps_the_old_one(
    platform: Platform, http: httpx.Client
) -> None:
    before = login(http, platform, "alice", "wave-alice").json()["access_token"]
    old_kid = jwt.get_unverified_header(before)["kid"]
    rotated = http.post(f"{platform.url('accounts')}/admin/rotate-key").json()
    assert rotated["kid"] != old_kid and rotated["published"] == [rotated["kid"], old_kid]
    after = login(http, platform, "alice", "wave-alice").json()["access_token"]
    assert jwt.get_unverified_header(after)["kid"] == rotated["kid"]
    keys = http.get(f"{platform.url('accounts')}/.well-known/jwks.json").json()["keys"]
    by_kid = {k["kid"]: jwt.PyJWK(k).key for k in keys}
    for token in (before, after):
        kid = jwt.get_unverified_header(token)["kid"]
        jwt.decode(token, by_kid[kid], algorithms=["RS256"], audience="waveform-mobile")
