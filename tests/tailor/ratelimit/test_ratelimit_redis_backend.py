"""The Redis backend against a real redis-server: exact, shared by every client, survives a
flushed script cache, and reports (never raises past itself) a Redis that is gone."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from tailor.ratelimit import BackendUnavailable, Quota, RedisRateLimiter
from waveform.redis_server import RedisServer


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url, socket_timeout=0.5, socket_connect_timeout=0.5)
    yield client
    await client.aclose()


def fresh_key() -> str:
    return f"test:rl:{os.urandom(6).hex()}"


async def test_concurrent_clients_share_one_exact_count(redis_url: str) -> None:
    clients = [Redis.from_url(redis_url) for _ in range(4)]
    try:
        backends = [RedisRateLimiter(c) for c in clients]
        quota = Quota(fresh_key(), 100, 86_400)

        async def hammer(backend: RedisRateLimiter) -> int:
            return sum([(await backend.acquire([quota])).allowed for _ in range(60)])

        counts = await asyncio.gather(*(hammer(b) for b in backends))
        assert sum(counts) == 100  # 240 attempts, exactly the limit allowed
    finally:
        for c in clients:
            await c.aclose()


async def test_refusal_reports_the_wait_until_the_next_request_fits(redis: Redis) -> None:
    backend = RedisRateLimiter(redis)
    quota = Quota(fresh_key(), 2, 60)
    assert (await backend.acquire([quota])).allowed
    assert (await backend.acquire([quota])).allowed
    refused = await backend.acquire([quota])
    assert not refused.allowed
    assert 29 < refused.retry_after_s <= 30.0


async def test_a_refused_request_charges_no_other_quota(redis: Redis) -> None:
    backend = RedisRateLimiter(redis)
    tight, loose = Quota(fresh_key(), 1, 60), Quota(fresh_key(), 10, 60)
    assert (await backend.acquire([tight, loose])).allowed
    assert not (await backend.acquire([tight, loose])).allowed
    assert (await backend.acquire([loose])).usages[0].remaining == 8


async def test_keys_expire_once_the_quota_is_whole_again(redis: Redis) -> None:
    backend = RedisRateLimiter(redis)
    quota = Quota(fresh_key(), 10, 60)
    await backend.acquire([quota])
    ttl_ms = await redis.pttl(quota.key)
    assert 0 < ttl_ms <= 6_000  # one request holds one interval (6 s), not the whole window


async def test_a_flushed_script_cache_is_reloaded(redis: Redis) -> None:
    backend = RedisRateLimiter(redis)
    quota = Quota(fresh_key(), 5, 60)
    assert (await backend.acquire([quota])).allowed
    await redis.script_flush()  # what a restarted Redis looks like: NOSCRIPT on EVALSHA
    verdict = await backend.acquire([quota])
    assert verdict.allowed and verdict.usages[0].remaining == 3


async def test_a_stopped_redis_is_reported_as_unavailable_quickly(tmp_path) -> None:
    server = RedisServer(data_dir=tmp_path).start()
    client = Redis.from_url(server.url, socket_timeout=0.5, socket_connect_timeout=0.5)
    try:
        backend = RedisRateLimiter(client, timeout_s=0.3, retry_s=0.0)
        quota = Quota(fresh_key(), 5, 60)
        assert (await backend.acquire([quota])).allowed
        server.stop()
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(BackendUnavailable):
            await backend.acquire([quota])
        assert loop.time() - started < 2.0  # bounded by the backend timeout, generously
    finally:
        await client.aclose()
        server.stop()


async def test_after_a_failure_the_backend_is_not_retried_until_retry_s(tmp_path) -> None:
    server = RedisServer(data_dir=tmp_path).start()
    client = Redis.from_url(server.url, socket_timeout=0.5, socket_connect_timeout=0.5)
    try:
        backend = RedisRateLimiter(client, timeout_s=0.3, retry_s=60.0)
        server.stop()
        with pytest.raises(BackendUnavailable):
            await backend.acquire([Quota(fresh_key(), 5, 60)])
        server.start()
        with pytest.raises(BackendUnavailable, match="not retried yet"):
            await backend.acquire([Quota(fresh_key(), 5, 60)])
    finally:
        await client.aclose()
        server.stop()
