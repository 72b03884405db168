"""Verifying a signed JWT the one way tailor does it, for client tokens at the edge and for
internal tokens in the services alike, so a hardening lands in both at once.

The algorithm is pinned by the caller and the token's own ``alg`` must equal it (``none`` and
RS/HS confusion are refused before any key is touched); tokens that name their own key source
(``jku``, ``x5u``, inline ``jwk``, ``x5c``) are refused, never followed; the ``kid`` must be a
short plain token before it is used to look a key up. ``exp``, ``nbf`` and ``iat`` must be
JSON numbers (RFC 7519's NumericDate; PyJWT would accept ``"1999999999"``), and a token whose
lifetime (``exp - iat``) exceeds the caller's ``max_lifetime_s`` is refused even if signed.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

import jwt
from jwt.exceptions import PyJWTError

FORBIDDEN_HEADERS = ("jku", "x5u", "jwk", "x5c")
KID = re.compile(r"[A-Za-z0-9_.-]{1,128}")
REQUIRED_CLAIMS = ["exp", "iat", "sub", "aud", "iss"]
NUMERIC_DATES = ("exp", "nbf", "iat")

KeyLookup = Callable[[str], Awaitable[Any]]


async def verify_jws(
    token: str,
    *,
    algorithm: str,
    key_for: KeyLookup,
    audience: str,
    issuer: str,
    leeway_s: float,
    max_lifetime_s: float,
    invalid: type[Exception],
) -> dict[str, Any]:
    """The verified claims, or ``invalid(reason)`` raised. ``key_for(kid)`` returns the key
    (and raises ``invalid`` for an unknown kid, or its own error when keys are unavailable)."""
    try:
        header = jwt.get_unverified_header(token)
    except PyJWTError as exc:
        raise invalid("malformed token") from exc
    if header.get("alg") != algorithm:
        raise invalid("algorithm not accepted")
    if any(name in header for name in FORBIDDEN_HEADERS):
        raise invalid("token names its own key source")
    kid = header.get("kid")
    if not isinstance(kid, str) or not KID.fullmatch(kid):
        raise invalid("missing or malformed kid")
    key = await key_for(kid)
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[algorithm],
            audience=audience,
            issuer=issuer,
            leeway=leeway_s,
            options={"require": REQUIRED_CLAIMS},
        )
    except PyJWTError as exc:
        raise invalid(type(exc).__name__) from exc
    for name in NUMERIC_DATES:
        value = claims.get(name)
        # bool is an int to Python but true/false to JSON: not a NumericDate either.
        if name in claims and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise invalid(f"{name} is not a NumericDate")
    if claims["exp"] - claims["iat"] > max_lifetime_s:
        raise invalid("token lives too long")
    return claims
