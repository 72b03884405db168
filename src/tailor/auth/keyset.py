"""Signing keys from a JWKS endpoint, by ``kid``: the one key cache behind both the edge's
JWT verifier and the services' internal-token verifier.

An unknown ``kid`` triggers a refresh at once when the last successful one is at least
``refresh_interval_s`` old (key rotation works without letting garbage tokens hammer the
issuer); only keys for the pinned algorithm are kept.

While the issuer is down the cost stays bounded too: callers that find an unknown ``kid``
while a refresh is in flight wait for that one refresh instead of starting their own, and
after a failed refresh none is tried for ``retry_after_failure_s`` (the callers get
``unavailable`` at once). A flood of tokens with made-up kids therefore makes at most one
fetch per ``retry_after_failure_s``, and an issuer blip costs at most that long once the
issuer is back.
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
Clock = Callable[[], float]

#: How long after a failed refresh the next one may start, unless the builder says otherwise.
RETRY_AFTER_FAILURE_S = 1.0


class KeySet:
    """Signing keys by ``kid``, fetched and refreshed from a JWKS.

    An illustration (it needs a JWKS to ``fetch``, so it is not a doctest)::

        keys = KeySet(fetch, algorithm="RS256", refresh_interval_s=30,
                      invalid=InvalidToken, unavailable=KeysUnavailable)
        key = await keys.key("k1")
    """

    def __init__(
        self,
        fetch: Fetcher,
        *,
        algorithm: str,
        refresh_interval_s: float,
        invalid: type[Exception],
        unavailable: type[Exception],
        retry_after_failure_s: float = RETRY_AFTER_FAILURE_S,
        clock: Clock = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self._algorithm = algorithm
        self._interval = refresh_interval_s
        self._retry_after_failure = retry_after_failure_s
        self._invalid = invalid
        self._unavailable = unavailable
        self._clock = clock
        self._keys: dict[str, Any] = {}
        self._fetched_at = -1e9
        self._failed_at = -1e9
        self._failure: Exception | None = None  # why the last refresh failed; None after a good one
        self._inflight: asyncio.Future[None] | None = None

    async def key(self, kid: str) -> Any:
        """The key for ``kid``; ``invalid`` for an unknown one, ``unavailable`` when the
        JWKS cannot be fetched (or could not be, less than ``retry_after_failure_s`` ago)."""
        key = self._keys.get(kid)
        if key is not None:
            return key
        refresh = self._inflight
        if refresh is None:
            now = self._clock()
            failure = self._failure
            if failure is not None and now - self._failed_at < self._retry_after_failure:
                # The issuer failed a moment ago: answer as it did, without asking again.
                raise self._unavailable(str(failure)) from failure
            if now - self._fetched_at < self._interval:
                raise self._invalid("unknown kid")
            refresh = self._inflight = asyncio.ensure_future(self._refresh())
            refresh.add_done_callback(self._refresh_done)
        # Shielded: one caller giving up (a client that disconnected) must not cancel the
        # refresh the others are waiting for.
        try:
            await asyncio.shield(refresh)
        except self._unavailable as exc:
            raise self._unavailable(str(exc)) from exc  # each caller its own error, one cause
        key = self._keys.get(kid)
        if key is None:
            raise self._invalid("unknown kid")
        return key

    def _refresh_done(self, refresh: asyncio.Future[None]) -> None:
        self._inflight = None
        if not refresh.cancelled():
            refresh.exception()  # retrieved here, so nobody waiting is not an asyncio warning

    async def _refresh(self) -> None:
        try:
            raw = await self._fetch()
            keyset = PyJWKSet.from_json(raw.decode())
        except (PyJWKSetError, UnicodeDecodeError, ValueError) as exc:
            raise self._failed(self._unavailable("the JWKS is malformed")) from exc
        except (TailorError, OSError) as exc:
            raise self._failed(self._unavailable("the JWKS could not be fetched")) from exc
        self._fetched_at = self._clock()
        self._failure = None
        self._keys = {
            k.key_id: k.key for k in keyset.keys if k.key_id and k.algorithm_name == self._algorithm
        }

    def _failed(self, error: Exception) -> Exception:
        self._failed_at = self._clock()
        self._failure = error
        return error
