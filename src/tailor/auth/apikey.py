"""Partner API keys: ``X-API-Key`` verified by the key store, verdicts cached briefly.

The edge never sees a key's hash or its list of keys; it asks the key store
(``POST /keys/verify``) and caches the verdict, good or bad, for ``cache_ttl_s`` under a
SHA-256 of the key (the key itself is not kept in memory as a dict key). So a revoked key
keeps working for at most ``cache_ttl_s`` on each BFF process: that is the revocation delay,
documented in docs/security.md.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from tailor.auth.authenticator import CredentialsUnavailable, InvalidCredential
from tailor.auth.principal import Principal
from tailor.config import APIKeyAuth
from tailor.errors import TailorError
from tailor.http import Request

#: Shape of a key as issued; anything else is refused before the key store is asked.
_KEY = re.compile(r"[A-Za-z0-9_.~-]{16,128}")

#: POST a JSON body to the verify endpoint: returns (status, body).
KeyVerifier = Callable[[bytes], Awaitable[tuple[int, bytes]]]


class _Verdict(msgspec.Struct):
    partner_id: str
    key_id: str = ""
    scopes: list[str] = msgspec.field(default_factory=list)


class _VerifyRequest(msgspec.Struct):
    api_key: str


_decode = msgspec.json.Decoder(_Verdict).decode
_encode = msgspec.json.Encoder().encode


def _remember(cache: dict[bytes, Any], digest: bytes, value: Any, size: int) -> None:
    cache.pop(digest, None)  # re-insert: the dict's order is the eviction order
    if len(cache) >= size:
        cache.pop(next(iter(cache)))
    cache[digest] = value


class APIKeyAuthenticator:
    """API keys checked by the key store, each verdict cached.

    An illustration (it needs the key store's ``verify`` call, so it is not a doctest)::

        auth = APIKeyAuthenticator(settings, verify)
        principal = await auth.authenticate(request)
        principal.partner_id  # 'p-acme'
    """

    def __init__(self, settings: APIKeyAuth, verify: KeyVerifier) -> None:
        self._settings = settings
        self._verify = verify
        self._header = settings.header.lower()
        # Good and bad verdicts are kept apart: a flood of made-up keys fills only the refusals
        # (a tenth of the size) and can never push a real partner's verdict out.
        self._cache: dict[bytes, tuple[float, Principal]] = {}
        self._refused: dict[bytes, float] = {}
        self._refused_size = max(1, settings.cache_size // 10)
        self.challenge = f'ApiKey header="{settings.header}"'

    async def authenticate(self, request: Request) -> Principal | None:
        key = request.headers.get(self._header)
        if key is None:
            return None
        key = key.strip()
        if not _KEY.fullmatch(key):
            raise InvalidCredential("malformed api key")
        digest = hashlib.sha256(key.encode()).digest()
        now = time.monotonic()
        hit = self._cache.get(digest)
        if hit is not None and hit[0] > now:
            return hit[1]
        refused_until = self._refused.get(digest)
        if refused_until is not None and refused_until > now:
            raise InvalidCredential("unknown or revoked api key")
        principal = await self._ask(key)
        expires = now + self._settings.cache_ttl_s
        if principal is None:
            _remember(self._refused, digest, expires, self._refused_size)
            raise InvalidCredential("unknown or revoked api key")
        _remember(self._cache, digest, (expires, principal), self._settings.cache_size)
        return principal

    async def _ask(self, key: str) -> Principal | None:
        try:
            status, body = await self._verify(_encode(_VerifyRequest(key)))
        except TailorError as exc:
            raise CredentialsUnavailable("the key store is unreachable") from exc
        if status in (401, 403, 404):
            return None
        if status != 200:
            raise CredentialsUnavailable(f"the key store answered {status}")
        try:
            verdict = _decode(body)
        except msgspec.DecodeError as exc:
            raise CredentialsUnavailable("the key store answered garbage") from exc
        if not verdict.partner_id:
            return None
        return Principal(
            subject=verdict.partner_id,
            scopes=frozenset(verdict.scopes),
            kind="partner",
            credential="api_key",
            partner_id=verdict.partner_id,
        )
