"""Helpers to drive a BFF in-process and to mint JWTs signed by test-time RSA keys."""

from __future__ import annotations

import json
import time
from functools import cache
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from tailor import Response
from tailor.testing import call as call  # re-exported: the tests' in-process call

ISSUER = "test-issuer"
AUDIENCE = "test-audience"


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
