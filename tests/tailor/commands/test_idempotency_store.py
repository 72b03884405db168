"""The idempotency stores: memory and a real redis-server keep the same promises (a claim
is exclusive, a completed record is found, a released key is free, records expire)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from tailor.commands.store import (
    IdempotencyStore,
    MemoryIdempotencyStore,
    Record,
    RedisIdempotencyStore,
)
from tailor.ratelimit.gcra import BackendUnavailable


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[IdempotencyStore]:
    if request.param == "memory":
        yield MemoryIdempotencyStore(100)
        return
    client = Redis.from_url(request.getfixturevalue("redis_url"))
    yield RedisIdempotencyStore(client, prefix=f"test:idem:{os.urandom(4).hex()}:")
    await client.aclose()


async def test_the_first_claim_wins_and_the_second_sees_it_pending(store) -> None:
    assert await store.claim("k", "f1", 5) is None
    found = await store.claim("k", "f2", 5)
    assert found is not None and found.pending and found.fingerprint == "f1"


async def test_a_completed_record_is_what_a_later_claim_finds(store) -> None:
    await store.claim("k", "f1", 5)
    await store.complete("k", Record("f1", 201, [("etag", '"1"')], b"{}"), 60)
    found = await store.claim("k", "f1", 5)
    assert found == Record("f1", 201, [("etag", '"1"')], b"{}")


async def test_a_released_key_can_be_claimed_again(store) -> None:
    await store.claim("k", "f1", 5)
    await store.release("k")
    assert await store.claim("k", "f1", 5) is None


async def test_a_claim_expires_after_its_in_flight_time(store) -> None:
    await store.claim("k", "f1", 0.05)
    deadline = asyncio.get_running_loop().time() + 5
    while await store.claim("k", "f2", 0.05) is not None:  # bounded: the key expires
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.01)


def test_the_memory_store_keeps_at_most_max_keys() -> None:
    store = MemoryIdempotencyStore(2)

    async def fill() -> Record | None:
        for key in ("a", "b", "c"):
            await store.claim(key, "f", 5)
        return await store.claim("a", "f2", 5)  # "a" was dropped: claimed anew

    assert asyncio.run(fill()) is None


async def test_an_unreachable_redis_is_backend_unavailable() -> None:
    client = Redis.from_url("redis://127.0.0.1:1", socket_connect_timeout=0.1)
    try:
        with pytest.raises(BackendUnavailable):
            await RedisIdempotencyStore(client, timeout_s=0.5).claim("k", "f", 5)
    finally:
        await client.aclose()
