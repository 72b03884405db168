"""Signing keys from a JWKS endpoint, by ``kid``: the one key cache behind both the edge's
JWT verifier and the services' internal-token verifier.

An unknown ``kid`` triggers at most one refresh per ``refresh_interval_s`` (key rotation works
without letting garbage tokens hammer the issuer); only keys for the pinned algorithm are kept.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from jwt import PyJWKSet
from jwt.exceptions import PyJWKSetError

from tailor.errors import TailorError

Fetcher = Callable[[], Awaitable[bytes]]


class KeySet:
    """
    >>> keys = KeySet(fetch, algorithm="RS256", refresh_interval_s=30,
    ...               invalid=InvalidToken, unavailable=KeysUnavailable)  # doctest: +SKIP
    >>> key = await keys.key("k1")  # doctest: +SKIP
    """

    def __init__(
        self,
        fetch: Fetcher,
        *,
        algorithm: str,
        refresh_interval_s: float,
        invalid: type[Exception],
        unavailable: type[Exception],
    ) -> None:
        self._fetch = fetch
        self._algorithm = algorithm
        self._interval = refresh_interval_s
        self._invalid = invalid
        self._unavailable = unavailable
        self._keys: dict[str, Any] = {}
        self._fetched_at = -1e9
        self._lock = asyncio.Lock()

    async def key(self, kid: str) -> Any:
        """The key for ``kid``; ``invalid`` for an unknown one, ``unavailable`` when the
        JWKS cannot be fetched."""
        key = self._keys.get(kid)
        if key is not None:
            return key
        async with self._lock:
            key = self._keys.get(kid)
            if key is None and time.monotonic() - self._fetched_at >= self._interval:
                await self._refresh()
                key = self._keys.get(kid)
        if key is None:
            raise self._invalid("unknown kid")
        return key

    async def _refresh(self) -> None:
        try:
            raw = await self._fetch()
            keyset = PyJWKSet.from_json(raw.decode())
        except (PyJWKSetError, UnicodeDecodeError, ValueError) as exc:
            raise self._unavailable("the JWKS is malformed") from exc
        except (TailorError, OSError) as exc:
            raise self._unavailable("the JWKS could not be fetched") from exc
        self._fetched_at = time.monotonic()
        self._keys = {
            k.key_id: k.key for k in keyset.keys if k.key_id and k.algorithm_name == self._algorithm
        }
