"""accounts (9001): identities and credentials: users, apps, partners.

- Users log in (``/login``) and get an RS256 access token for one client audience plus a
  rotating refresh token (``/oauth/token``, ``grant_type=refresh_token``). Reusing a refresh
  token that was already rotated revokes its whole family (RFC 6819 5.2.2.3).
- Apps (OAuth2 clients) form the app registry: which BFFs and routes, scopes, tier,
  status. Confidential apps use ``grant_type=client_credentials``; secrets are stored hashed.
- Partners own labels; they authenticate with API keys (stored as SHA-256, shown once) or a
  client certificate whose subject maps to the partner.
- Signing keys: the newest RSA key signs, the two newest are in the JWKS, so
  ``POST /admin/rotate-key`` rolls keys without refusing tokens already issued.

Every route but ``/healthz`` and ``/openapi.json`` needs an internal token for audience
``accounts`` (see :mod:`waveform.services.common`); ``/admin/*`` needs scope ``admin``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import logging
import os
import secrets
import sqlite3
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import jwt
import msgspec
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI, Query, Request
from pydantic import BaseModel
from starlette.responses import Response

from waveform.seed import (
    APPS,
    PARTNER_URI,
    PARTNERS,
    USER_WRITE_SCOPES,
    World,
    hash_password,
    verify_password,
)
from waveform.services import models as m
from waveform.services.common import (
    Problem,
    bad_request,
    create_app,
    insert_rows,
    json_response,
    not_found,
    require_scope,
    returns,
    row_dict,
    run_service,
)

log = logging.getLogger("waveform.accounts")

SCHEMA = """
CREATE TABLE accounts (
    user_id TEXT PRIMARY KEY, username TEXT NOT NULL UNIQUE, email TEXT NOT NULL,
    password_hash TEXT, created_at TEXT NOT NULL, last_login_at TEXT,
    failed_logins INTEGER NOT NULL, locked INTEGER NOT NULL, mfa_enabled INTEGER NOT NULL,
    roles TEXT NOT NULL
);
CREATE TABLE apps (
    client_id TEXT PRIMARY KEY, name TEXT NOT NULL, status TEXT NOT NULL,
    bffs TEXT NOT NULL, routes TEXT NOT NULL, scopes TEXT NOT NULL, tier TEXT NOT NULL,
    secret_hash TEXT
);
CREATE TABLE partners (partner_id TEXT PRIMARY KEY, name TEXT NOT NULL, label TEXT NOT NULL);
CREATE TABLE partner_certificates (subject TEXT PRIMARY KEY, partner_id TEXT NOT NULL);
CREATE TABLE api_keys (
    key_id TEXT PRIMARY KEY, partner_id TEXT NOT NULL, key_hash TEXT NOT NULL UNIQUE,
    scopes TEXT NOT NULL, created_at REAL NOT NULL, revoked_at REAL
);
CREATE TABLE signing_keys (kid TEXT PRIMARY KEY, pem TEXT NOT NULL, created_at REAL NOT NULL);
CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY, family_id TEXT NOT NULL, user_id TEXT NOT NULL,
    audience TEXT NOT NULL, client_id TEXT NOT NULL, expires_at REAL NOT NULL,
    used INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE refresh_families (family_id TEXT PRIMARY KEY, revoked INTEGER NOT NULL);
"""
ISSUER = "waveform-accounts"
#: audience -> (the BFF it is for, the app a login without client_id belongs to)
AUDIENCES: dict[str, tuple[str, str | None]] = {
    "waveform-mobile": ("mobile", "waveform-ios"),
    "waveform-web": ("web", "waveform-webapp"),
    "waveform-tv": ("tv", "waveform-tv"),
    "waveform-public": ("public", None),
}
APP_AUDIENCE = "waveform-public"
TOKEN_TTL = 900
REFRESH_TTL = 30 * 86400
PUBLISHED_KEYS = 2
KEY_FILE = "accounts-signing-key.pem"
BOOLS = ("locked", "mfa_enabled")
JSON_COLS = ("roles",)
APP_STATUSES = ("active", "suspended")
PARTNER_SCOPES = ["partner:read"]
MAX_FORM_BYTES = 16 * 1024
# Verified against when the username is unknown, so both failures cost the same time.
_DUMMY_HASH = hash_password("not-a-password", b"waveform-dummy-salt")


# -- request and response shapes ---------------------------------------------------------


class LoginRequest(BaseModel):
    username: str
    password: str
    audience: str
    client_id: str | None = None


class StatusChange(BaseModel):
    status: str


class KeyVerifyRequest(BaseModel):
    api_key: str


class NewKeyRequest(BaseModel):
    scopes: list[str] | None = None


class LoginResponse(m.Model):
    user_id: str
    access_token: str
    token_type: str
    expires_in: int
    refresh_token: str


class TokenResponse(m.Model):
    access_token: str
    token_type: str
    expires_in: int
    scope: str
    refresh_token: str | None = None
    user_id: str | None = None


class App(m.Model):
    client_id: str
    name: str
    status: str
    bffs: list[str]
    routes: dict[str, list[str]]
    scopes: list[str]
    tier: str


class Partner(m.Model):
    partner_id: str
    name: str
    label: str


class PartnerRef(m.Model):
    partner_id: str


class NewApiKey(m.Model):
    key_id: str
    api_key: str
    partner_id: str
    scopes: list[str]


class VerifiedKey(m.Model):
    partner_id: str
    key_id: str
    scopes: list[str]


class RotatedKey(m.Model):
    kid: str
    published: list[str]


# -- seed ----------------------------------------------------------------------------------


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def load(conn: sqlite3.Connection, world: World) -> None:
    insert_rows(conn, "accounts", world.accounts)
    rng_salt = hashlib.sha256(f"waveform:{world.seed}:app-salts".encode()).digest()
    insert_rows(
        conn,
        "apps",
        [
            {
                "client_id": a.client_id,
                "name": a.name,
                "status": a.status,
                "bffs": msgspec.json.encode(list(a.bffs)).decode(),
                "routes": msgspec.json.encode(a.routes).decode(),
                "scopes": msgspec.json.encode(list(a.scopes)).decode(),
                "tier": a.tier,
                # scrypt, not a bare hash: demo app secrets are low-entropy words.
                "secret_hash": hash_password(
                    a.secret, hashlib.sha256(rng_salt + a.client_id.encode()).digest()[:16]
                )
                if a.secret
                else None,
            }
            for a in APPS
        ],
    )
    insert_rows(
        conn,
        "partners",
        [{"partner_id": pid, "name": label, "label": label} for pid, label in PARTNERS.items()],
    )
    certs = [{"subject": pid, "partner_id": pid} for pid in PARTNERS]
    certs += [
        {"subject": PARTNER_URI.format(partner_id=pid), "partner_id": pid} for pid in PARTNERS
    ]
    insert_rows(conn, "partner_certificates", certs)
    insert_rows(
        conn,
        "api_keys",
        [
            {
                "key_id": f"demo-{pid}",
                "partner_id": pid,
                "key_hash": sha256_hex(key),
                "scopes": msgspec.json.encode(PARTNER_SCOPES).decode(),
                "created_at": 0.0,
                "revoked_at": None,
            }
            for pid, key in world.partner_keys.items()
        ],
    )


# -- signing keys --------------------------------------------------------------------------


def load_or_create_key(data_dir: Path) -> rsa.RSAPrivateKey:
    """The first signing key, created once (written atomically, mode 0600) and reused."""
    path = data_dir / KEY_FILE
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise SystemExit(f"{path} does not hold an RSA private key")
        return key
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    data_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{KEY_FILE}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(_pem(key))
    os.replace(tmp, path)
    return key


def _pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def key_id(key: rsa.RSAPublicKey) -> str:
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()[:12]).decode().rstrip("=")


def public_jwk(key: rsa.RSAPublicKey, kid: str) -> dict[str, str]:
    def b64(n: int) -> str:
        raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    numbers = key.public_numbers()
    return {
        "kty": "RSA",
        "kid": kid,
        "use": "sig",
        "alg": "RS256",
        "n": b64(numbers.n),
        "e": b64(numbers.e),
    }


class SigningKeys:
    """The newest key signs; the ``PUBLISHED_KEYS`` newest are in the JWKS.

    >>> keys = SigningKeys(conn, data_dir)  # doctest: +SKIP
    >>> kid, private_key = keys.active  # doctest: +SKIP
    """

    def __init__(self, conn: sqlite3.Connection, data_dir: Path) -> None:
        self._conn = conn
        if conn.execute("SELECT count(*) FROM signing_keys").fetchone()[0] == 0:
            self._store(load_or_create_key(data_dir))
        self._load()

    def _store(self, key: rsa.RSAPrivateKey) -> str:
        kid = key_id(key.public_key())
        self._conn.execute(
            "INSERT OR IGNORE INTO signing_keys VALUES (?, ?, ?)",
            (kid, _pem(key).decode(), time.time()),
        )
        return kid

    def _load(self) -> None:
        rows = self._conn.execute(
            "SELECT kid, pem FROM signing_keys ORDER BY created_at DESC LIMIT ?", (PUBLISHED_KEYS,)
        ).fetchall()
        keys: list[tuple[str, rsa.RSAPrivateKey]] = []
        for row in rows:
            key = serialization.load_pem_private_key(row["pem"].encode(), password=None)
            assert isinstance(key, rsa.RSAPrivateKey)
            keys.append((row["kid"], key))
        self.active = keys[0]
        self.jwks = {"keys": [public_jwk(k.public_key(), kid) for kid, k in keys]}

    def rotate(self) -> str:
        kid = self._store(rsa.generate_private_key(public_exponent=65537, key_size=2048))
        self._load()
        return kid


# -- request helpers -----------------------------------------------------------------------


def oauth_error(status: int, error: str, detail: str) -> Problem:
    """An RFC 6749 error as problem+json with the ``error`` member the RFC names."""
    title = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden"}[status]
    headers = {"cache-control": "no-store"}
    if status == 401:
        headers["www-authenticate"] = 'Basic realm="waveform-accounts"'
    return Problem(status, title, detail, extra={"error": error}, headers=headers)


async def read_params(request: Request) -> dict[str, str]:
    """A token request's parameters, form-encoded (RFC 6749) or JSON; each at most once."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise oauth_error(400, "invalid_request", "the request body is too large")
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    pairs: list[tuple[str, Any]]
    if ctype == "application/x-www-form-urlencoded":
        try:
            pairs = parse_qsl(body.decode(), keep_blank_values=True)
        except (UnicodeDecodeError, ValueError) as exc:
            raise oauth_error(400, "invalid_request", "malformed form body") from exc
    elif ctype == "application/json":
        try:
            decoded = msgspec.json.decode(body)
        except msgspec.DecodeError as exc:
            raise oauth_error(400, "invalid_request", "malformed JSON body") from exc
        if not isinstance(decoded, dict):
            raise oauth_error(400, "invalid_request", "the body must be an object")
        pairs = list(decoded.items())
    else:
        raise oauth_error(
            400, "invalid_request", "send application/x-www-form-urlencoded or application/json"
        )
    params: dict[str, str] = {}
    for name, value in pairs:
        if not isinstance(value, str):
            raise oauth_error(400, "invalid_request", f"{name} must be a string")
        if name in params:
            raise oauth_error(400, "invalid_request", f"{name} was sent more than once")
        params[name] = value
    return params


def app_dict(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "client_id": row["client_id"],
        "name": row["name"],
        "status": row["status"],
        "bffs": msgspec.json.decode(row["bffs"]),
        "routes": msgspec.json.decode(row["routes"]),
        "scopes": msgspec.json.decode(row["scopes"]),
        "tier": row["tier"],
    }


# -- the app ---------------------------------------------------------------------------------


def build_app(conn: sqlite3.Connection, args: argparse.Namespace) -> FastAPI:
    app = create_app(
        "accounts",
        "Users, apps and partners: logins, OAuth2 grants, the app registry, API keys and the JWKS.",
    )
    keys = SigningKeys(conn, args.data_dir)
    denied = Problem(401, "Unauthorized", "invalid username or password")

    def sign(sub: str, audience: str, scope: str, client_id: str) -> str:
        now = int(time.time())
        kid, private_key = keys.active
        claims = {
            "iss": ISSUER,
            "aud": audience,
            "sub": sub,
            "iat": now,
            "nbf": now,
            "exp": now + TOKEN_TTL,
            "scope": scope,
            "client_id": client_id,
            "jti": secrets.token_urlsafe(16),
        }
        return jwt.encode(claims, private_key, algorithm="RS256", headers={"kid": kid})

    def new_refresh(user_id: str, audience: str, client_id: str, family: str | None) -> str:
        token = "rt_" + secrets.token_urlsafe(32)
        if family is None:
            family = secrets.token_urlsafe(12)
            conn.execute("INSERT INTO refresh_families VALUES (?, 0)", (family,))
        conn.execute(
            "INSERT INTO refresh_tokens VALUES (?, ?, ?, ?, ?, ?, 0)",
            (sha256_hex(token), family, user_id, audience, client_id, time.time() + REFRESH_TTL),
        )
        return token

    def get_app(client_id: str) -> sqlite3.Row | None:
        row: sqlite3.Row | None = conn.execute(
            "SELECT * FROM apps WHERE client_id = ?", (client_id,)
        ).fetchone()
        return row

    def user_scope(client_id: str) -> str:
        """A user's token through an app: ``user`` and the writes the app may make for them."""
        row = get_app(client_id)
        granted = msgspec.json.decode(row["scopes"]) if row is not None else []
        return " ".join(["user", *(s for s in granted if s in USER_WRITE_SCOPES)])

    def login_client(audience: str, client_id: str | None) -> str:
        bff, default_client = AUDIENCES[audience]
        client = client_id or default_client
        if client is None:
            raise bad_request(f"audience {audience} needs a client_id")
        row = get_app(client)
        if row is None or bff not in msgspec.json.decode(row["bffs"]):
            raise bad_request(f"client_id {client!r} is not registered for {audience}")
        return client

    # -- users ------------------------------------------------------------------------------

    @app.post("/login", responses=returns(LoginResponse, 401))
    async def login(body: LoginRequest) -> Response:
        if body.audience not in AUDIENCES:
            raise bad_request(f"audience must be one of {', '.join(AUDIENCES)}")
        client_id = login_client(body.audience, body.client_id)
        row = conn.execute(
            "SELECT user_id, password_hash, locked FROM accounts WHERE username = ?",
            (body.username,),
        ).fetchone()
        encoded = row["password_hash"] if row is not None and row["password_hash"] else None
        ok = await asyncio.to_thread(verify_password, body.password, encoded or _DUMMY_HASH)
        if row is None or encoded is None or not ok or row["locked"]:
            if row is not None:
                conn.execute(
                    "UPDATE accounts SET failed_logins = failed_logins + 1 WHERE user_id = ?",
                    (row["user_id"],),
                )
            raise denied
        user_id = row["user_id"]
        conn.execute(
            "UPDATE accounts SET last_login_at = ?, failed_logins = 0 WHERE user_id = ?",
            (time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), user_id),
        )
        body_out = {
            "user_id": user_id,
            "access_token": sign(user_id, body.audience, user_scope(client_id), client_id),
            "token_type": "Bearer",
            "expires_in": TOKEN_TTL,
            "refresh_token": new_refresh(user_id, body.audience, client_id, None),
        }
        return _no_store(json_response(body_out))

    @app.post("/oauth/token", responses=returns(TokenResponse, 401))
    async def oauth_token(request: Request) -> Response:
        params = await read_params(request)
        grant = params.get("grant_type")
        if grant == "refresh_token":
            out = refresh_grant(params)
        elif grant == "client_credentials":
            out = await client_credentials_grant(params)
        elif not grant:
            raise oauth_error(400, "invalid_request", "grant_type is required")
        else:
            raise oauth_error(
                400, "unsupported_grant_type", "use refresh_token or client_credentials"
            )
        return _no_store(json_response(out))

    def refresh_grant(params: dict[str, str]) -> dict[str, Any]:
        presented = params.get("refresh_token")
        if not presented:
            raise oauth_error(400, "invalid_request", "refresh_token is required")
        invalid = oauth_error(400, "invalid_grant", "the refresh token is not valid")
        row = conn.execute(
            "SELECT r.*, f.revoked FROM refresh_tokens r JOIN "
            "refresh_families f USING (family_id) WHERE token_hash = ?",
            (sha256_hex(presented),),
        ).fetchone()
        if row is None or row["revoked"]:
            raise invalid
        claimed = conn.execute(
            "UPDATE refresh_tokens SET used = 1 WHERE token_hash = ? AND used = 0",
            (row["token_hash"],),
        ).rowcount
        if not claimed:
            # A rotated token came back: someone holds a copy. Kill the whole family.
            conn.execute(
                "UPDATE refresh_families SET revoked = 1 WHERE family_id = ?", (row["family_id"],)
            )
            log.warning(
                "refresh token reuse for %s (client %s): family revoked",
                row["user_id"],
                row["client_id"],
            )
            raise invalid
        audience = params.get("audience") or row["audience"]
        if row["expires_at"] < time.time() or audience != row["audience"]:
            raise invalid
        user_id, client_id = row["user_id"], row["client_id"]
        return {
            "access_token": sign(user_id, audience, user_scope(client_id), client_id),
            "token_type": "Bearer",
            "expires_in": TOKEN_TTL,
            "scope": user_scope(client_id),
            "refresh_token": new_refresh(user_id, audience, client_id, row["family_id"]),
            "user_id": user_id,
        }

    async def client_credentials_grant(params: dict[str, str]) -> dict[str, Any]:
        # The app's credentials come in the body: Authorization carries the internal token
        # (the BFF translates a client's HTTP Basic into these parameters).
        client_id, secret = params.get("client_id"), params.get("client_secret")
        if not client_id or not secret:
            raise oauth_error(401, "invalid_client", "client authentication failed")
        row = get_app(client_id)
        encoded = row["secret_hash"] if row is not None and row["secret_hash"] else None
        ok = await asyncio.to_thread(verify_password, secret, encoded or _DUMMY_HASH)
        if row is None or encoded is None or not ok:
            raise oauth_error(401, "invalid_client", "client authentication failed")
        audience = params.get("audience", APP_AUDIENCE)
        if audience != APP_AUDIENCE:
            raise oauth_error(400, "invalid_request", f"audience must be {APP_AUDIENCE}")
        # Writes act for a user: an app token of its own has none to act for.
        allowed = [s for s in msgspec.json.decode(row["scopes"]) if s not in USER_WRITE_SCOPES]
        wanted = params.get("scope", "").split() or allowed
        if not set(wanted) <= set(allowed):
            raise oauth_error(400, "invalid_scope", "a requested scope is not allowed")
        # A suspended app still authenticates: its status is enforced in one place, the
        # entitlements stage at every BFF, which refuses it with 403.
        scope = " ".join(dict.fromkeys(wanted))
        return {
            "access_token": sign(client_id, audience, scope, client_id),
            "token_type": "Bearer",
            "expires_in": TOKEN_TTL,
            "scope": scope,
        }

    @app.get("/.well-known/jwks.json", responses=returns(m.Jwks))
    async def well_known_jwks() -> Response:
        return json_response(keys.jwks)

    @app.get("/accounts/{user_id}", responses=returns(m.Account, 403, 404))
    async def get_account(user_id: str, request: Request) -> Response:
        require_scope(request, "admin")  # password hashes and e-mail: operators only
        row = conn.execute("SELECT * FROM accounts WHERE user_id = ?", (user_id,)).fetchone()
        if row is None:
            raise not_found("account", user_id)
        return json_response(row_dict(row, BOOLS, JSON_COLS))

    # -- apps ---------------------------------------------------------------------------------

    @app.get("/apps/{client_id}", responses=returns(App, 404))
    async def app_entry(client_id: str) -> Response:
        row = get_app(client_id)
        if row is None:
            raise not_found("app", client_id)
        return json_response(app_dict(row))

    @app.post("/admin/apps/{client_id}/status", responses=returns(App, 403, 404))
    async def set_app_status(client_id: str, body: StatusChange, request: Request) -> Response:
        require_scope(request, "admin")
        if body.status not in APP_STATUSES:
            raise bad_request(f"status must be one of {', '.join(APP_STATUSES)}")
        if not conn.execute(
            "UPDATE apps SET status = ? WHERE client_id = ?", (body.status, client_id)
        ).rowcount:
            raise not_found("app", client_id)
        log.warning("app %s is now %s", client_id, body.status)
        row = get_app(client_id)
        assert row is not None
        return json_response(app_dict(row))

    # -- partners and API keys ------------------------------------------------------------

    @app.get("/partners/by-certificate", responses=returns(PartnerRef, 404))
    async def partner_by_certificate(subject: str = Query(..., max_length=256)) -> Response:
        row = conn.execute(
            "SELECT partner_id FROM partner_certificates WHERE subject = ?", (subject,)
        ).fetchone()
        if row is None:
            raise Problem(404, "Not Found", "no partner for this certificate subject")
        return json_response({"partner_id": row["partner_id"]})

    @app.get("/partners/{partner_id}", responses=returns(Partner, 404))
    async def partner(partner_id: str) -> Response:
        row = conn.execute("SELECT * FROM partners WHERE partner_id = ?", (partner_id,)).fetchone()
        if row is None:
            raise not_found("partner", partner_id)
        return json_response(dict(row))

    @app.post(
        "/admin/partners/{partner_id}/keys", status_code=201, responses=returns(NewApiKey, 403, 404)
    )
    async def create_key(
        partner_id: str, request: Request, body: NewKeyRequest | None = None
    ) -> Response:
        require_scope(request, "admin")
        if (
            conn.execute("SELECT 1 FROM partners WHERE partner_id = ?", (partner_id,)).fetchone()
            is None
        ):
            raise not_found("partner", partner_id)
        scopes = PARTNER_SCOPES if body is None or body.scopes is None else body.scopes
        if not set(scopes) <= set(PARTNER_SCOPES):
            raise bad_request(f"scopes must be among {', '.join(PARTNER_SCOPES)}")
        key_id = "key_" + secrets.token_hex(8)
        api_key = "wf_live_" + secrets.token_urlsafe(32)  # 256 bits: a hash is enough
        conn.execute(
            "INSERT INTO api_keys VALUES (?, ?, ?, ?, ?, NULL)",
            (
                key_id,
                partner_id,
                sha256_hex(api_key),
                msgspec.json.encode(scopes).decode(),
                time.time(),
            ),
        )
        log.warning("api key %s created for %s", key_id, partner_id)
        out = {"key_id": key_id, "api_key": api_key, "partner_id": partner_id, "scopes": scopes}
        return _no_store(json_response(out, status=201))

    @app.delete(
        "/admin/partners/{partner_id}/keys/{key_id}",
        status_code=204,
        responses={204: {"description": "revoked"}},
    )
    async def revoke_key(partner_id: str, key_id: str, request: Request) -> Response:
        require_scope(request, "admin")
        changed = conn.execute(
            "UPDATE api_keys SET revoked_at = coalesce(revoked_at, ?) "
            "WHERE key_id = ? AND partner_id = ?",
            (time.time(), key_id, partner_id),
        ).rowcount
        if not changed:
            raise not_found("key", key_id)
        log.warning("api key %s of %s revoked", key_id, partner_id)
        return Response(status_code=204)

    @app.post("/keys/verify", responses=returns(VerifiedKey, 401))
    async def verify_key(body: KeyVerifyRequest) -> Response:
        row = None
        if len(body.api_key) <= 256:
            row = conn.execute(
                "SELECT key_id, partner_id, scopes FROM api_keys "
                "WHERE key_hash = ? AND revoked_at IS NULL",
                (sha256_hex(body.api_key),),
            ).fetchone()
        if row is None:  # unknown, revoked and malformed look the same
            raise Problem(401, "Unauthorized", "invalid API key")
        return json_response(
            {
                "partner_id": row["partner_id"],
                "key_id": row["key_id"],
                "scopes": msgspec.json.decode(row["scopes"]),
            }
        )

    # -- keys ---------------------------------------------------------------------------------

    @app.post("/admin/rotate-key", responses=returns(RotatedKey, 403))
    async def rotate_key(request: Request) -> Response:
        require_scope(request, "admin")
        kid = await asyncio.to_thread(keys.rotate)
        log.warning("signing key rotated: %s now signs", kid)
        return json_response({"kid": kid, "published": [k["kid"] for k in keys.jwks["keys"]]})

    return app


def _no_store(response: Response) -> Response:
    """Credentials in a body must not be cached anywhere (RFC 6749 5.1)."""
    response.headers["cache-control"] = "no-store"
    response.headers["pragma"] = "no-cache"
    return response


def main() -> None:
    run_service("accounts", 9001, SCHEMA, load, build_app)


if __name__ == "__main__":
    main()
