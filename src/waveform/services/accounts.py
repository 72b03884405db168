"""accounts (9001): credentials, login, and the RS256 signing key with its JWKS.

The RSA key is generated on first start and kept in ``<data-dir>/accounts-signing-key.pem``
so tokens stay verifiable across restarts. Only the demo users have password hashes.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI
from pydantic import BaseModel
from starlette.responses import Response

from waveform.seed import World, hash_password, verify_password
from waveform.services import models as m
from waveform.services.common import (
    Problem,
    bad_request,
    create_app,
    insert_rows,
    json_response,
    not_found,
    returns,
    row_dict,
    run_service,
)

SCHEMA = """
CREATE TABLE accounts (
    user_id TEXT PRIMARY KEY, username TEXT NOT NULL UNIQUE, email TEXT NOT NULL,
    password_hash TEXT, created_at TEXT NOT NULL, last_login_at TEXT,
    failed_logins INTEGER NOT NULL, locked INTEGER NOT NULL, mfa_enabled INTEGER NOT NULL,
    roles TEXT NOT NULL
);
"""
ISSUER = "waveform-accounts"
AUDIENCES = ("waveform-mobile", "waveform-web")
TOKEN_TTL = 900
KEY_FILE = "accounts-signing-key.pem"
BOOLS = ("locked", "mfa_enabled")
JSON_COLS = ("roles",)
# Verified against when the username is unknown, so both failures cost the same time.
_DUMMY_HASH = hash_password("not-a-password", b"waveform-dummy-salt")


class LoginRequest(BaseModel):
    username: str
    password: str
    audience: str


def load(conn: sqlite3.Connection, world: World) -> None:
    insert_rows(conn, "accounts", world.accounts)


def load_or_create_key(data_dir: Path) -> rsa.RSAPrivateKey:
    """The signing key, created once (written atomically, mode 0600) and then reused."""
    path = data_dir / KEY_FILE
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise SystemExit(f"{path} does not hold an RSA private key")
        return key
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    data_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{KEY_FILE}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    os.replace(tmp, path)
    return key


def key_id(key: rsa.RSAPublicKey) -> str:
    der = key.public_bytes(serialization.Encoding.DER,
                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()[:12]).decode().rstrip("=")


def jwks(key: rsa.RSAPublicKey, kid: str) -> dict[str, Any]:
    def b64(n: int) -> str:
        raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    numbers = key.public_numbers()
    return {"keys": [{"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
                      "n": b64(numbers.n), "e": b64(numbers.e)}]}


def build_app(conn: sqlite3.Connection, args: argparse.Namespace) -> FastAPI:
    app = create_app("accounts", "Login, tokens and the JWKS; accounts hold credentials.")
    private_key = load_or_create_key(args.data_dir)
    kid = key_id(private_key.public_key())
    key_set = jwks(private_key.public_key(), kid)
    denied = Problem(401, "Unauthorized", "invalid username or password")

    @app.post("/login", responses=returns(m.LoginResult, 401))
    async def login(body: LoginRequest) -> Response:
        if body.audience not in AUDIENCES:
            raise bad_request(f"audience must be one of {', '.join(AUDIENCES)}")
        row = conn.execute("SELECT user_id, password_hash, locked FROM accounts "
                           "WHERE username = ?", (body.username,)).fetchone()
        encoded = row["password_hash"] if row is not None and row["password_hash"] else None
        ok = await asyncio.to_thread(verify_password, body.password, encoded or _DUMMY_HASH)
        if row is None or encoded is None or not ok or row["locked"]:
            if row is not None:
                conn.execute("UPDATE accounts SET failed_logins = failed_logins + 1 "
                             "WHERE user_id = ?", (row["user_id"],))
            raise denied
        now = int(time.time())
        claims = {"iss": ISSUER, "aud": body.audience, "sub": row["user_id"], "iat": now,
                  "nbf": now, "exp": now + TOKEN_TTL, "scope": "user"}
        token = jwt.encode(claims, private_key, algorithm="RS256", headers={"kid": kid})
        conn.execute("UPDATE accounts SET last_login_at = ?, failed_logins = 0 "
                     "WHERE user_id = ?",
                     (time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)), row["user_id"]))
        return json_response({"user_id": row["user_id"], "access_token": token,
                              "token_type": "Bearer", "expires_in": TOKEN_TTL})

    @app.get("/.well-known/jwks.json", responses=returns(m.Jwks))
    async def well_known_jwks() -> Response:
        return json_response(key_set)

    @app.get("/accounts/{user_id}", responses=returns(m.Account, 404))
    async def get_account(user_id: str) -> Response:
        row = conn.execute("SELECT * FROM accounts WHERE user_id = ?", (user_id,)).fetchone()
        if row is None:
            raise not_found("account", user_id)
        return json_response(row_dict(row, BOOLS, JSON_COLS))

    return app


def main() -> None:
    run_service("accounts", 9001, SCHEMA, load, build_app)


if __name__ == "__main__":
    main()
