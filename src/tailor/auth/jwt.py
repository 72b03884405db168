"""Bearer JWT verification against the issuer's JWKS.

The algorithm is pinned by config and the token's own ``alg`` must equal it, so ``none`` and
RS/HS confusion are refused before any key is touched. Keys come only from the configured
key source (:mod:`tailor.auth.keysource`): ``jku``, ``x5u`` and inline ``jwk`` headers are
refused, never followed. An
unknown ``kid`` triggers at most one JWKS refresh per ``jwks_refresh_min_interval_s`` (key
rotation without letting garbage tokens hammer the issuer). Verified tokens are cached until
they expire, so a token's signature is checked once, not on every request.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from tailor.auth.authenticator import CredentialsUnavailable, InvalidCredential
from tailor.auth.jws import verify_jws
from tailor.auth.keyset import KeySet
from tailor.auth.principal import Principal
from tailor.config import JWTAuth
from tailor.http import Request


class InvalidToken(InvalidCredential):
    """The token was presented but is not acceptable. Its message stays server-side."""


class KeysUnavailable(CredentialsUnavailable):
    """The JWKS could not be fetched, so no token can be verified right now."""


JWKSFetcher = Callable[[], Awaitable[bytes]]


class JWTVerifier:
    """
    >>> import asyncio, json
    >>> from tailor.testing import TokenIssuer
    >>> issuer = TokenIssuer("https://id.example", "my-bff")  # an RSA key made here
    >>> async def fetch_jwks() -> bytes:
    ...     return json.dumps(issuer.jwks).encode()
    >>> settings = JWTAuth("https://id.example", "my-bff", jwks_url="https://id.example/jwks")
    >>> verifier = JWTVerifier(settings, fetch_jwks)
    >>> asyncio.run(verifier.verify(issuer.token("u1"))).subject
    'u1'
    """

    def __init__(self, settings: JWTAuth, fetch_jwks: JWKSFetcher) -> None:
        self._settings = settings
        self._keyset = KeySet(
            fetch_jwks,
            algorithm=settings.algorithm,
            refresh_interval_s=settings.jwks_refresh_min_interval_s,
            invalid=InvalidToken,
            unavailable=KeysUnavailable,
            retry_after_failure_s=settings.jwks_retry_after_failure_s,
        )
        self._cache: dict[str, Principal] = {}
        self._leeway_s = settings.leeway_s

    def forget(self, token: str) -> None:
        """Drop ``token`` from the cache: a credential used once (a live connection's, read
        at its upgrade) would otherwise hold a cache entry for nothing."""
        self._cache.pop(token, None)

    def cached(self, token: str) -> Principal | None:
        """The principal of a token verified before and not expired yet, without waiting."""
        found = self._cache.get(token)
        if found is None:
            return None
        if found.expires_at + self._leeway_s > time.time():
            return found
        del self._cache[token]  # expired: verify() checks it again, and refuses it
        return None

    async def verify(self, token: str) -> Principal:
        cached = self.cached(token)
        if cached is not None:
            return cached
        principal = await self._verify_uncached(token)
        if len(self._cache) >= self._settings.cache_size:
            self._cache.pop(next(iter(self._cache)))
        self._cache[token] = principal
        return principal

    async def _verify_uncached(self, token: str) -> Principal:
        s = self._settings
        claims = await verify_jws(
            token,
            algorithm=s.algorithm,
            key_for=self._keyset.key,
            audience=s.audience,
            issuer=s.issuer,
            leeway_s=s.leeway_s,
            max_lifetime_s=s.max_lifetime_s,
            invalid=InvalidToken,
        )
        subject = claims["sub"]
        if not isinstance(subject, str) or not subject:
            raise InvalidToken("bad subject")
        scope = claims.get("scope", "")
        client_id = claims.get("client_id", "")
        client_id = client_id if isinstance(client_id, str) else ""
        return Principal(
            subject=subject,
            scopes=_scopes(scope) if isinstance(scope, str) else _NO_SCOPES,
            client_id=client_id,
            expires_at=float(claims["exp"]),
            # An OAuth2 client-credentials token is the app itself: no user behind it.
            kind="app" if client_id and subject == client_id else "user",
        )


_NO_SCOPES: frozenset[str] = frozenset()
_SCOPES: dict[str, frozenset[str]] = {}
_SCOPES_KEPT = 256


def _scopes(scope: str) -> frozenset[str]:
    """The set of a ``scope`` claim, one shared object per distinct claim: tokens of one
    client carry the same scopes, and each cached principal would otherwise hold its own
    copy (a set costs more than the rest of the principal).

    >>> _scopes("read write") is _scopes("read write"), sorted(_scopes("read write"))
    (True, ['read', 'write'])
    """
    found = _SCOPES.get(scope)
    if found is None:
        found = frozenset(scope.split()) or _NO_SCOPES
        if len(_SCOPES) < _SCOPES_KEPT:  # a bound, or odd claims would grow it forever
            _SCOPES[scope] = found
    return found


class BearerJWTAuthenticator:
    """``Authorization: Bearer <jwt>`` verified by a :class:`JWTVerifier`."""

    def __init__(self, verifier: JWTVerifier, realm: str) -> None:
        self.verifier = verifier
        self.challenge = f'Bearer realm="{realm}"'

    def known(self, request: Request) -> Principal | None:
        """The principal of a bearer token verified before and not expired yet, without
        waiting; ``None`` for anything else (no token, a new one, garbage): ask
        :meth:`authenticate`."""
        token = _bearer_token(request)
        return self.verifier.cached(token) if token else None

    async def authenticate(self, request: Request) -> Principal | None:
        token = _bearer_token(request)
        if token is None:
            return None
        if not token:
            raise InvalidToken("empty bearer token")
        # A token seen before is answered from the verifier's cache; the authenticate stage
        # asks known() first, so such a token usually never gets here.
        return await self.verifier.verify(token)


def _bearer_token(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer`` header (empty if the header has none), or
    ``None`` when the request carries no bearer credential."""
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None
