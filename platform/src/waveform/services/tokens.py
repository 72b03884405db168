"""tokens (9011): the internal token service (RFC 8693 token exchange).

A BFF (or a value-added service) has verified its caller; it asks here for a token about
that caller (``subject_token``, an opaque subject id of type ``urn:waveform:subject``) for
exactly one service (``audience``), authenticating with its own client id and secret
(HTTP Basic). The answer is an ES256 JWT living at most 60 s::

    {"iss": "waveform-tokens", "aud": "users", "sub": "u1", "act": {"sub": "bff-mobile"},
     "scope": "read", "iat": ..., "nbf": ..., "exp": iat + 60, "jti": ...}

A token about a partner (``partner:<id>``) also carries ``"label"``: the label that partner
owns, taken from the platform's partner registry (``waveform.seed.PARTNERS``, the record the
accounts service's partners table is loaded from; no API changes it), never from the
exchange request. Services confine a partner's reads to it (the rights service's label
rule). An exchange for a partner the registry does not know is refused (400).

Each client has an allowance (audience -> scopes). A request beyond it is 403 and logged,
so a compromised BFF cannot obtain tokens for services or scopes it was never given (no
BFF may ever get ``accounts``' ``admin`` scope). Client secrets are derived from the
platform seed (demo) and held here only as SHA-256 hashes.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import logging
import os
import re
import secrets
import time
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import FastAPI, Request
from starlette.responses import Response

from tailor.auth.internal import GRANT_TYPE, LABEL_CLAIM, PARTNER_PREFIX, SUBJECT_TOKEN_TYPE
from waveform.seed import PARTNERS, token_client_secret
from waveform.services import models as m
from waveform.services.common import (
    TOKENS_ALGORITHM,
    TOKENS_ISSUER,
    Problem,
    create_app,
    json_response,
    returns,
    serve,
    service_parser,
    setup_logging,
)

log = logging.getLogger("waveform.tokens")

KEY_FILE = "tokens-signing-key.pem"
TOKEN_TTL = 60
MAX_FORM_BYTES = 8 * 1024
ISSUED_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:jwt"
_SUBJECT = re.compile(r"[A-Za-z0-9_.:@-]{1,128}")

DATA_SERVICES = (
    "users",
    "tracks",
    "playlists",
    "social",
    "stream",
    "recommendations",
    "media",
    "rights",
    "catalog",
)
Allowance = dict[str, tuple[str, ...]]


def _reads(*services: str) -> Allowance:
    return {s: ("read",) for s in services}


#: client id -> audience -> scopes it may obtain (the first is the default when none is
#: asked for). ``auth`` on accounts: logins, grants, app registry, key checks; ``admin``:
#: key and app management, key rotation, which only operators get.
ALLOWANCES: dict[str, Allowance] = {
    "bff-mobile": {**_reads(*DATA_SERVICES), "accounts": ("auth",)},
    "bff-web": {**_reads(*DATA_SERVICES), "accounts": ("auth",)},
    "bff-tv": {
        **_reads("users", "tracks", "stream", "recommendations", "catalog", "media", "rights"),
        "accounts": ("auth",),
    },
    "bff-public": {
        **_reads("users", "tracks", "playlists", "social", "catalog", "media", "rights"),
        "accounts": ("auth",),
    },
    "bff-partner": {**_reads("catalog", "tracks", "rights", "media"), "accounts": ("auth",)},
    # social: likes and reposts, which only catalog sends (after its visibility check);
    # tracks: a post, whose owner catalog takes from the subject.
    "catalog": _reads("tracks", "rights", "media", "social"),
    "waveform-ops": {
        **{s: ("read", "admin") for s in DATA_SERVICES},
        "accounts": ("auth", "admin"),
        "tokens": ("read",),
    },
}


class ExchangeResult(m.Model):
    access_token: str
    issued_token_type: str
    token_type: str
    expires_in: int
    scope: str


class EcJwk(m.Model):
    kty: str
    crv: str
    kid: str
    use: str
    alg: str
    x: str
    y: str


class EcJwks(m.Model):
    keys: list[EcJwk]


class Stats(m.Model):
    issued: dict[str, int]
    refused: dict[str, int]


def load_or_create_key(data_dir: Path) -> ec.EllipticCurvePrivateKey:
    """The P-256 signing key, created once (atomically, mode 0600) and reused."""
    path = data_dir / KEY_FILE
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise SystemExit(f"{path} does not hold an EC private key")
        return key
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    data_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{KEY_FILE}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    os.replace(tmp, path)
    return key


def public_jwk(key: ec.EllipticCurvePublicKey) -> dict[str, str]:
    numbers = key.public_numbers()

    def b64(n: int) -> str:
        return base64.urlsafe_b64encode(n.to_bytes(32, "big")).decode().rstrip("=")

    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    kid = base64.urlsafe_b64encode(hashlib.sha256(der).digest()[:12]).decode().rstrip("=")
    return {
        "kty": "EC",
        "crv": "P-256",
        "kid": kid,
        "use": "sig",
        "alg": TOKENS_ALGORITHM,
        "x": b64(numbers.x),
        "y": b64(numbers.y),
    }


def error(status: int, code: str, detail: str) -> Problem:
    title = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden"}[status]
    headers = {"cache-control": "no-store"}
    if status == 401:
        headers["www-authenticate"] = 'Basic realm="waveform-tokens"'
    return Problem(status, title, detail, extra={"error": code}, headers=headers)


class ClientRegistry:
    """Who may exchange, with what secret (held as SHA-256; secrets are 256-bit random)."""

    def __init__(self, seed: int, allowances: dict[str, Allowance] = ALLOWANCES) -> None:
        self.allowances = allowances
        self._hashes = {
            cid: hashlib.sha256(token_client_secret(seed, cid).encode()).digest()
            for cid in allowances
        }
        self._dummy = hashlib.sha256(b"no-such-client").digest()

    def authenticate(self, client_id: str, secret: str) -> bool:
        presented = hashlib.sha256(secret.encode()).digest()
        ok = hmac.compare_digest(presented, self._hashes.get(client_id, self._dummy))
        return ok and client_id in self._hashes


def basic_client(request: Request) -> tuple[str, str]:
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    refused = error(401, "invalid_client", "client authentication failed")
    if scheme.lower() != "basic":
        raise refused
    try:
        raw = base64.b64decode(encoded.strip(), validate=True).decode()
    except (ValueError, UnicodeDecodeError) as exc:
        raise refused from exc
    client_id, sep, secret = raw.partition(":")
    if not sep:
        raise refused
    return unquote(client_id), unquote(secret)


async def form(request: Request) -> dict[str, str]:
    if (
        request.headers.get("content-type", "").split(";")[0].strip().lower()
        != "application/x-www-form-urlencoded"
    ):
        raise error(400, "invalid_request", "send application/x-www-form-urlencoded")
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise error(400, "invalid_request", "the request body is too large")
    params: dict[str, str] = {}
    try:
        pairs = parse_qsl(body.decode(), keep_blank_values=True)
    except (UnicodeDecodeError, ValueError) as exc:
        raise error(400, "invalid_request", "malformed form body") from exc
    for name, value in pairs:
        if name in params:
            raise error(400, "invalid_request", f"{name} was sent more than once")
        params[name] = value
    return params


def partner_claims(subject: str, labels: Mapping[str, str]) -> dict[str, str]:
    """The claims a token about ``subject`` gets from the partner registry: ``label`` for a
    partner subject, nothing for any other; 400 for a partner the registry does not know
    (a token without its label would be a partner no service could confine).

    >>> partner_claims("partner:p-acme", {"p-acme": "Acme Records"})
    {'label': 'Acme Records'}
    >>> partner_claims("u1", {"p-acme": "Acme Records"})
    {}
    """
    if not subject.startswith(PARTNER_PREFIX):
        return {}
    label = labels.get(subject[len(PARTNER_PREFIX) :])
    if not label:
        log.warning("token exchange refused: no partner %r in the registry", subject[:64])
        raise error(400, "invalid_request", "subject_token names no known partner")
    return {LABEL_CLAIM: label}


def build_app(
    key: ec.EllipticCurvePrivateKey,
    clients: ClientRegistry,
    ttl: int = TOKEN_TTL,
    partner_labels: Mapping[str, str] = PARTNERS,
) -> FastAPI:
    app = create_app(
        "tokens",
        "Internal token exchange (RFC 8693): short-lived, "
        "audience-scoped tokens within each client's allowance.",
        open_paths=("/token", "/.well-known/jwks.json"),
    )
    jwk = public_jwk(key.public_key())
    key_set = {"keys": [jwk]}
    encoded_jwks = json_response(key_set).body

    async def own_jwks() -> bytes:
        return bytes(encoded_jwks)

    app.state.internal_auth.fetch = own_jwks  # this service checks its own tokens locally
    issued: Counter[str] = Counter()
    refused: Counter[str] = Counter()

    @app.post("/token", responses=returns(ExchangeResult, 401, 403))
    async def token(request: Request) -> Response:
        client_id, secret = basic_client(request)
        if not clients.authenticate(client_id, secret):
            log.warning("token exchange: client authentication failed for %r", client_id[:64])
            raise error(401, "invalid_client", "client authentication failed")
        params = await form(request)
        if params.get("grant_type") != GRANT_TYPE:
            raise error(400, "unsupported_grant_type", f"grant_type must be {GRANT_TYPE}")
        if params.get("subject_token_type") != SUBJECT_TOKEN_TYPE:
            raise error(400, "invalid_request", f"subject_token_type must be {SUBJECT_TOKEN_TYPE}")
        subject = params.get("subject_token", "")
        if not _SUBJECT.fullmatch(subject):
            raise error(400, "invalid_request", "subject_token must be a plain subject id")
        audience = params.get("audience", "")
        if not audience:
            raise error(400, "invalid_request", "audience is required")
        labelled = partner_claims(subject, partner_labels)
        allowance = clients.allowances[client_id]
        allowed = allowance.get(audience)
        if allowed is None:
            refused[client_id] += 1
            log.warning(
                "token exchange refused: %s asked for audience %r beyond its allowance",
                client_id,
                audience[:64],
            )
            raise error(
                403, "invalid_target", "this client may not obtain tokens for that audience"
            )
        wanted = params.get("scope", "").split() or [allowed[0]]
        if not set(wanted) <= set(allowed):
            refused[client_id] += 1
            log.warning(
                "token exchange refused: %s asked for scope %r on %s beyond its allowance",
                client_id,
                " ".join(wanted)[:64],
                audience,
            )
            raise error(403, "invalid_scope", "this client may not obtain that scope")
        now = int(time.time())
        scope = " ".join(dict.fromkeys(wanted))
        claims: dict[str, Any] = {
            "iss": TOKENS_ISSUER,
            "aud": audience,
            "sub": subject,
            "act": {"sub": client_id},
            "scope": scope,
            "iat": now,
            "nbf": now,
            "exp": now + ttl,
            "jti": secrets.token_urlsafe(12),
            **labelled,
        }
        signed = jwt.encode(claims, key, algorithm=TOKENS_ALGORITHM, headers={"kid": jwk["kid"]})
        issued[client_id] += 1
        response = json_response(
            {
                "access_token": signed,
                "issued_token_type": ISSUED_TOKEN_TYPE,
                "token_type": "Bearer",
                "expires_in": ttl,
                "scope": scope,
            }
        )
        response.headers["cache-control"] = "no-store"
        return response

    @app.get("/.well-known/jwks.json", responses=returns(EcJwks))
    async def well_known_jwks() -> Response:
        return json_response(key_set)

    @app.get("/stats", responses=returns(Stats, 401))
    async def stats() -> Response:
        """Exchanges issued and refused, per client (how tests see a BFF's cache work)."""
        return json_response({"issued": dict(issued), "refused": dict(refused)})

    return app


def main(argv: list[str] | None = None) -> None:
    parser = service_parser("tokens", 9011)
    parser.add_argument("--ttl", type=int, default=TOKEN_TTL, help="token lifetime, max 60 s")
    args: argparse.Namespace = parser.parse_args(argv)
    if not 1 <= args.ttl <= TOKEN_TTL:
        parser.error("--ttl must be between 1 and 60")
    setup_logging(args)
    key = load_or_create_key(args.data_dir)
    serve(build_app(key, ClientRegistry(args.seed), args.ttl), args)


if __name__ == "__main__":
    main()
