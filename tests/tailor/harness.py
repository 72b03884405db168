"""Helpers to drive a BFF in-process and to mint JWTs signed by test-time RSA keys."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Sequence
from functools import cache
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from tailor import BFF, Request, Response

ISSUER = "test-issuer"
AUDIENCE = "test-audience"


def chunks_reader(chunks: Sequence[bytes]) -> Any:
    async def read_body() -> AsyncIterator[bytes]:
        for chunk in chunks:
            yield chunk

    return read_body


async def call(
    bff: BFF,
    method: str = "GET",
    path: str = "/",
    *,
    query: str = "",
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    chunks: Sequence[bytes] | None = None,
    read_body: Any = None,
) -> Response:
    """Send one request through the whole pipeline. ``body`` sets content-length;
    ``chunks`` sends a chunked body."""
    bff.startup(admin=False)  # idempotent: a test that wants the admin listener starts it first
    hdrs = {k.lower(): v for k, v in (headers or {}).items()}
    hdrs.setdefault("host", "bff.test")
    reader = read_body
    if body is not None:
        hdrs["content-length"] = str(len(body))
        reader = reader or chunks_reader([body])
    elif chunks is not None:
        hdrs["transfer-encoding"] = "chunked"
        reader = reader or chunks_reader(chunks)
    request = (
        Request(method, path, query, hdrs, "203.0.113.7", read_body=reader)
        if reader is not None
        else Request(method, path, query, hdrs, "203.0.113.7")
    )
    return await bff.handle(request)


def body_json(response: Response) -> Any:
    return json.loads(response.body)


def assert_problem(response: Response, status: int) -> dict[str, Any]:
    """The response is an RFC 9457 problem with ``status``; returns its body."""
    assert response.status == status, (response.status, response.body)
    assert response.header("content-type") == "application/problem+json"
    problem = body_json(response)
    assert problem["status"] == status
    assert isinstance(problem["title"], str) and problem["title"]
    assert problem.get("type", "about:blank") == "about:blank"
    return dict(problem)


# -- JWT -----------------------------------------------------------------------------------


@cache
def rsa_key(name: str) -> rsa.RSAPrivateKey:
    """One RSA key per name, generated once per test session."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def jwk(kid: str, key_name: str | None = None) -> dict[str, Any]:
    public = rsa_key(key_name or kid).public_key()
    data = json.loads(RSAAlgorithm.to_jwk(public))
    data.update({"kid": kid, "alg": "RS256", "use": "sig"})
    return dict(data)


def jwks(*kids: str) -> dict[str, Any]:
    return {"keys": [jwk(kid) for kid in kids]}


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {
        "sub": "u42",
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + 600,
        "scope": "read",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def sign(kid: str = "k1", *, headers: dict[str, Any] | None = None, **claim_overrides: Any) -> str:
    return jwt.encode(
        claims(**claim_overrides),
        rsa_key(kid),
        algorithm="RS256",
        headers={"kid": kid, **(headers or {})},
    )


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def b64url(data: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def craft(header: dict[str, Any], payload: dict[str, Any], signature: bytes = b"") -> str:
    """A token assembled by hand (for algorithms PyJWT refuses to produce)."""
    head = b64url(json.dumps(header).encode())
    body = b64url(json.dumps(payload).encode())
    return f"{head}.{body}.{b64url(signature)}"
