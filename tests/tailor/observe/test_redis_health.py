"""The Redis watcher: Redis's death (and return) is a log line and a gauge on the admin
port's metrics, against a real redis-server taken away and brought back."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from tailor.observe.redis_health import RedisHealth
from waveform.redis_server import RedisServer


@pytest.fixture
async def client(redis_server: RedisServer) -> AsyncIterator[Redis]:
    redis = Redis.from_url(redis_server.url, socket_timeout=0.5, socket_connect_timeout=0.5)
    yield redis
    await redis.aclose()


def _up(registry: CollectorRegistry) -> float | None:
    return registry.get_sample_value("tailor_redis_up")


async def test_a_reachable_redis_is_reported_up(client: Redis, redis_server: RedisServer) -> None:
    registry = CollectorRegistry()
    assert await RedisHealth(client, registry, redis_server.url).check()
    assert _up(registry) == 1


async def test_a_dead_redis_is_logged_once_and_reported_down(
    client: Redis, redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    registry = CollectorRegistry()
    health = RedisHealth(client, registry, redis_server.url)
    redis_server.stop()
    try:
        with caplog.at_level(logging.ERROR, "tailor.redis"):
            assert not await health.check()
            assert not await health.check()
    finally:
        redis_server.start()
    assert _up(registry) == 0
    assert registry.get_sample_value("tailor_redis_lost_total") == 1
    lost = [r for r in caplog.records if "unreachable" in r.getMessage()]
    assert len(lost) == 1 and f"127.0.0.1:{redis_server.port}" in lost[0].getMessage()


async def test_a_redis_back_after_an_outage_is_logged_and_reported_up(
    client: Redis, redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    registry = CollectorRegistry()
    health = RedisHealth(client, registry, redis_server.url)
    redis_server.stop()
    try:
        await health.check()
    finally:
        redis_server.start()
    with caplog.at_level(logging.WARNING, "tailor.redis"):
        assert await health.check()
    assert _up(registry) == 1
    assert any("answers again" in r.getMessage() for r in caplog.records)


async def test_a_bff_that_keeps_state_in_redis_watches_it(make_bff, redis_url: str) -> None:
    bff = make_bff(
        {
            "state": {"redis_url": redis_url},
            "auth": {"session": {"store": "redis", "allowed_origins": ["https://app"]}},
        }
    )
    bff.startup(admin=False)
    assert bff.metrics.registry.get_sample_value("tailor_redis_up") == 1


async def test_a_bff_without_redis_has_no_redis_gauge(make_bff) -> None:
    bff = make_bff({})
    bff.startup(admin=False)
    assert bff.metrics.registry.get_sample_value("tailor_redis_up") is None
