"""The shared backend: entries in Redis, seen by every instance of a BFF.

Keys live under ``tailor:cache:<bff>:``; each entry is msgpack with a TTL of its lifetime, and
each tag is a Redis set of entry keys. A purge runs as one Lua script, so an entry cannot be
half-purged. Every Redis failure becomes :class:`CacheBackendError`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import msgspec

from tailor.cache.backend import CacheBackendError
from tailor.cache.entry import CacheEntry, decode_entry, encode_entry

if TYPE_CHECKING:
    from redis.asyncio import Redis

_PURGE = """
local purged = 0
for _, tag in ipairs(KEYS) do
  local members = redis.call('SMEMBERS', tag)
  for _, key in ipairs(members) do purged = purged + redis.call('DEL', key) end
  redis.call('DEL', tag)
end
return purged
"""


class RedisCacheBackend:
    """Entries shared by all instances of one BFF.

    An illustration (it needs a live Redis, so it is not a doctest)::

        backend = RedisCacheBackend(Redis.from_url("redis://127.0.0.1:6379/0"), "mobile")
        await backend.purge_tags(["feed:u1"])  # how many entries were dropped
    """

    name = "redis"

    def __init__(self, redis: Redis, bff: str) -> None:
        self._redis = redis
        self._prefix = f"tailor:cache:{bff}:"
        self._purge = redis.register_script(_PURGE)

    def _entry_key(self, key: str) -> str:
        return f"{self._prefix}e:{key}"

    def _tag_key(self, tag: str) -> str:
        return f"{self._prefix}t:{tag}"

    async def get(self, key: str) -> CacheEntry | None:
        try:
            raw = await self._redis.get(self._entry_key(key))
        except Exception as exc:  # redis-py raises its own tree plus OSError/TimeoutError
            raise CacheBackendError(f"redis get failed: {type(exc).__name__}") from exc
        if raw is None:
            return None
        try:
            return decode_entry(raw if isinstance(raw, bytes) else raw.encode())
        except msgspec.DecodeError as exc:
            raise CacheBackendError("an entry in redis is not a cache entry") from exc

    async def set(self, key: str, entry: CacheEntry) -> None:
        entry_key = self._entry_key(key)
        lifetime_ms = max(1, int(entry.lifetime_s * 1000))
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.set(entry_key, encode_entry(entry), px=lifetime_ms)
                for tag in entry.tags:
                    tag_key = self._tag_key(tag)
                    pipe.sadd(tag_key, entry_key)
                    # The tag set outlives its newest entry; stale members are harmless.
                    pipe.pexpire(tag_key, lifetime_ms)
                await pipe.execute()
        except Exception as exc:
            raise CacheBackendError(f"redis set failed: {type(exc).__name__}") from exc

    async def purge_tags(self, tags: Iterable[str]) -> int:
        keys = [self._tag_key(t) for t in tags]
        if not keys:
            return 0
        try:
            return int(await self._purge(keys=keys))
        except Exception as exc:
            raise CacheBackendError(f"redis purge failed: {type(exc).__name__}") from exc

    async def clear(self) -> None:
        """Shared entries are not this instance's to drop; their TTLs bound staleness."""
