"""Where idempotency records live: this process's memory, or Redis (every instance).

A record is claimed before the command runs (``pending``: only the request's fingerprint),
then completed with the answer, or released when the command failed in a way a retry may
fix (a 5xx, an exception). Claiming is atomic (``SET NX`` in Redis), so two instances that
receive the same retry at once never both run the command.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Protocol

import msgspec

from tailor.ratelimit.gcra import BackendUnavailable

if TYPE_CHECKING:
    from redis.asyncio import Redis


class Record(msgspec.Struct, array_like=True):
    """What a key holds: the fingerprint of the request that claimed it and, once it has
    answered, that answer (``status`` 0 while the command is still in flight).

    >>> Record("f1").pending
    True
    """

    fingerprint: str
    status: int = 0
    headers: list[tuple[str, str]] = msgspec.field(default_factory=list)
    body: bytes = b""

    @property
    def pending(self) -> bool:
        return self.status == 0


_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder(Record).decode


class IdempotencyStore(Protocol):
    """The seam the idempotency stage keeps its records behind."""

    async def claim(self, key: str, fingerprint: str, in_flight_s: float) -> Record | None:
        """Claim ``key`` for a new command: ``None`` when claimed, else the record already
        there (pending or answered). Raises ``BackendUnavailable``."""
        ...

    async def complete(self, key: str, record: Record, ttl_s: int) -> None:
        """Store the answer of the command that claimed ``key``."""
        ...

    async def release(self, key: str) -> None:
        """Forget ``key`` (its command failed; a retry runs it again)."""
        ...


class MemoryIdempotencyStore:
    """Records in this process, at most ``max_keys`` (the oldest dropped first).

    >>> store = MemoryIdempotencyStore(10)
    >>> asyncio.run(store.claim("u1:k", "f1", 30)) is None
    True
    >>> asyncio.run(store.claim("u1:k", "f2", 30)).fingerprint
    'f1'
    """

    def __init__(self, max_keys: int = 100_000) -> None:
        self.max_keys = max_keys
        self._records: dict[str, tuple[float, Record]] = {}

    def _live(self, key: str) -> Record | None:
        found = self._records.get(key)
        if found is None:
            return None
        if found[0] <= time.monotonic():
            del self._records[key]
            return None
        return found[1]

    def _put(self, key: str, record: Record, ttl_s: float) -> None:
        records = self._records
        records.pop(key, None)
        while len(records) >= self.max_keys:
            del records[next(iter(records))]
        records[key] = (time.monotonic() + ttl_s, record)

    async def claim(self, key: str, fingerprint: str, in_flight_s: float) -> Record | None:
        found = self._live(key)
        if found is not None:
            return found
        self._put(key, Record(fingerprint), in_flight_s)
        return None

    async def complete(self, key: str, record: Record, ttl_s: int) -> None:
        self._put(key, record, ttl_s)

    async def release(self, key: str) -> None:
        self._records.pop(key, None)


class RedisIdempotencyStore:
    """Records in Redis under ``prefix + key``, each call bounded by ``timeout_s``.

    An illustration (it needs a live Redis, so it is not a doctest)::

        store = RedisIdempotencyStore(Redis.from_url("redis://127.0.0.1:6379/0"))
        await store.claim("u1:8e03978e", "f1", 30.0)  # None: claimed
    """

    def __init__(
        self, redis: Redis, *, prefix: str = "tailor:idem:", timeout_s: float = 0.25
    ) -> None:
        from redis.exceptions import RedisError  # here: redis is an extra (tailor[redis])

        self._redis = redis
        self._prefix = prefix
        self._timeout_s = timeout_s
        self._errors: tuple[type[BaseException], ...] = (RedisError, OSError, TimeoutError)

    async def claim(self, key: str, fingerprint: str, in_flight_s: float) -> Record | None:
        name = self._prefix + key
        pending = _encode(Record(fingerprint))
        px = max(1, int(in_flight_s * 1000))
        try:
            async with asyncio.timeout(self._timeout_s):
                # Twice at most: a record may expire between the SET that found it and the GET.
                for _ in range(2):
                    if await self._redis.set(name, pending, nx=True, px=px):
                        return None
                    raw = await self._redis.get(name)
                    if isinstance(raw, bytes):
                        return _decode(raw)
        except self._errors as exc:
            raise BackendUnavailable(f"idempotency store: {exc!r}") from exc
        raise BackendUnavailable("idempotency store: the key kept changing")

    async def complete(self, key: str, record: Record, ttl_s: int) -> None:
        try:
            async with asyncio.timeout(self._timeout_s):
                await self._redis.set(self._prefix + key, _encode(record), ex=ttl_s)
        except self._errors as exc:
            raise BackendUnavailable(f"idempotency store: {exc!r}") from exc

    async def release(self, key: str) -> None:
        try:
            async with asyncio.timeout(self._timeout_s):
                await self._redis.delete(self._prefix + key)
        except self._errors as exc:
            raise BackendUnavailable(f"idempotency store: {exc!r}") from exc
