"""The two backends: the in-memory LRU's bounds and tag index, and Redis (a real server)."""

from __future__ import annotations

import time

from redis.asyncio import Redis

from tailor.cache.backend import MemoryCacheBackend
from tailor.cache.entry import CacheEntry
from tailor.cache.redis_backend import RedisCacheBackend


def entry(body: bytes = b"{}", tags: tuple[str, ...] = (), ttl_s: float = 60) -> CacheEntry:
    return CacheEntry(200, body, [("content-type", "application/json")], '"e"',
                      stored_at=time.time(), ttl_s=ttl_s, swr_s=0, sie_s=0,
                      tags=list(tags))  # fmt: skip


async def test_memory_lru_evicts_the_least_recently_used_beyond_max_entries() -> None:
    backend = MemoryCacheBackend(max_entries=2, max_bytes=1 << 20)
    await backend.set("a", entry())
    await backend.set("b", entry())
    await backend.get("a")  # a is now the most recently used
    await backend.set("c", entry())
    assert [await backend.get(k) is not None for k in "abc"] == [True, False, True]


async def test_memory_lru_stays_within_max_bytes() -> None:
    backend = MemoryCacheBackend(max_entries=100, max_bytes=3000)
    for i in range(10):
        await backend.set(str(i), entry(b"x" * 900))
    assert backend.bytes <= 3000
    assert len(backend) == 3


async def test_memory_purge_by_tag_drops_exactly_the_tagged_entries() -> None:
    backend = MemoryCacheBackend(max_entries=100, max_bytes=1 << 20)
    await backend.set("home-u1", entry(tags=("feed:u1", "user:u1")))
    await backend.set("home-u2", entry(tags=("feed:u2",)))
    assert await backend.purge_tags(["feed:u1"]) == 1
    assert await backend.get("home-u1") is None
    assert await backend.get("home-u2") is not None


async def test_memory_drops_an_entry_past_its_lifetime() -> None:
    backend = MemoryCacheBackend(max_entries=100, max_bytes=1 << 20)
    old = entry(ttl_s=1)
    await backend.set("k", CacheEntry(**{**{f: getattr(old, f) for f in old.__struct_fields__},
                                         "stored_at": time.time() - 5}))  # fmt: skip
    assert await backend.get("k") is None


async def test_redis_backend_round_trips_and_purges_by_tag(redis_url: str) -> None:
    redis = Redis.from_url(redis_url)
    try:
        backend = RedisCacheBackend(redis, "test-roundtrip")
        stored = entry(b'{"a":1}', tags=("feed:u1",))
        await backend.set("k1", stored)
        await backend.set("k2", entry(tags=("feed:u2",)))
        assert await backend.get("k1") == stored
        assert await backend.purge_tags(["feed:u1"]) == 1
        assert await backend.get("k1") is None
        assert await backend.get("k2") is not None
    finally:
        await redis.aclose()


async def test_redis_entries_expire_with_their_lifetime(redis_url: str) -> None:
    redis = Redis.from_url(redis_url)
    try:
        backend = RedisCacheBackend(redis, "test-ttl")
        await backend.set("k", entry(ttl_s=30))
        ttl_ms = await redis.pttl("tailor:cache:test-ttl:e:k")
        assert 0 < ttl_ms <= 30_000
    finally:
        await redis.aclose()
