"""Invalidation over a real Redis channel, and the cache surviving a Redis outage."""

from __future__ import annotations

import asyncio
import json

import pytest
from harness import bearer, call, sign
from redis.asyncio import Redis

from conftest import FeedService, build_cached_bff, cache_stage_of
from tailor.cache import CachePolicy
from tailor.stages.cache import CacheStage
from waveform.redis_server import RedisServer

USER = CachePolicy(scope="user", ttl_s=60)


def alice() -> dict[str, str]:
    return bearer(sign("k1", sub="u1", client_id="app-a"))


def metric(bff, name: str, **labels: str) -> float:
    value = bff.metrics.registry.get_sample_value(name, labels)
    return float(value or 0.0)


async def subscribed(bff) -> CacheStage:
    stage = cache_stage_of(bff)
    assert stage.subscriber is not None
    async with asyncio.timeout(5):
        await stage.subscriber.connected.wait()
    return stage


async def publish(redis_url: str, payload: bytes | str) -> None:
    redis = Redis.from_url(redis_url)
    try:
        await redis.publish("tailor:invalidate", payload)
    finally:
        await redis.aclose()


async def until(check, within_s: float = 5.0) -> None:
    """Poll ``check`` (bounded): the purge happens on the subscriber's task."""
    for _ in range(int(within_s / 0.01)):
        if await check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"not true within {within_s} s")


async def test_a_change_event_purges_the_tagged_entry(make_bff, feed: FeedService, redis_url):
    bff = build_cached_bff(make_bff, feed.upstream.url, USER,
                           {"state": {"redis_url": redis_url}})  # fmt: skip
    await call(bff, path="/home", headers=alice())
    await subscribed(bff)
    await publish(redis_url, json.dumps({"type": "track.posted", "tags": ["feed:u1"]}))

    async def purged() -> bool:
        return metric(bff, "tailor_cache_invalidation_events_total", outcome="applied") >= 1

    await until(purged)
    again = await call(bff, path="/home", headers=alice())
    assert again.header("x-cache") == "miss"


@pytest.mark.parametrize(
    "payload", [b"not json", b"[1, 2]", b'{"type": "x"}', b'{"type": "x", "tags": [""]}']
)
async def test_a_malformed_event_is_counted_and_the_subscriber_keeps_going(
    make_bff, feed: FeedService, redis_url, payload: bytes
):
    bff = build_cached_bff(make_bff, feed.upstream.url, USER,
                           {"state": {"redis_url": redis_url}})  # fmt: skip
    await call(bff, path="/home", headers=alice())
    await subscribed(bff)
    await publish(redis_url, payload)
    await publish(redis_url, json.dumps({"type": "follow", "tags": ["feed:u1"]}))

    async def applied() -> bool:
        return metric(bff, "tailor_cache_invalidation_events_total", outcome="applied") >= 1

    await until(applied)
    assert metric(bff, "tailor_cache_invalidation_events_total", outcome="malformed") == 1
    assert (await call(bff, path="/home", headers=alice())).status == 200


async def test_a_purge_during_a_fill_keeps_that_fill_out_of_the_cache(make_bff, feed: FeedService):
    gate = asyncio.Event()
    original = feed.upstream.scripts[("GET", "/feed/u1")]

    def gated(seen):
        script = original(seen)
        script.gate = gate
        return script

    feed.upstream.script("GET", "/feed/u1", gated)
    bff = build_cached_bff(make_bff, feed.upstream.url, USER)
    pending = asyncio.create_task(call(bff, path="/home", headers=alice()))
    await feed.upstream.wait_for_requests(2)  # the JWKS fetch and the feed call
    stage = cache_stage_of(bff)
    await stage.purge(["feed:u1"])  # the change lands while the old data is being read
    gate.set()
    assert (await pending).header("x-cache") == "miss"
    again = await call(bff, path="/home", headers=alice())
    assert again.header("x-cache") == "miss"


async def test_with_redis_down_requests_are_served_from_upstreams_and_errors_counted(
    make_bff, feed: FeedService, tmp_path
):
    server = RedisServer(data_dir=tmp_path).start()
    try:
        bff = build_cached_bff(
            make_bff, feed.upstream.url, USER,
            {"state": {"redis_url": server.url},
             "cache": {"backend": "redis", "backend_retry_s": 0.0}},
        )  # fmt: skip
        assert (await call(bff, path="/home", headers=alice())).header("x-cache") == "miss"
        assert (await call(bff, path="/home", headers=alice())).header("x-cache") == "hit"
        server.stop()
        down = [await call(bff, path="/home", headers=alice()) for _ in range(3)]
        assert [r.status for r in down] == [200, 200, 200]
        assert [r.header("x-cache") for r in down] == ["miss"] * 3
        errors = metric(bff, "tailor_cache_backend_errors_total", backend="redis", op="get")
        assert errors >= 3
        server.start()
        await call(bff, path="/home", headers=alice())
        back = await call(bff, path="/home", headers=alice())
        assert back.header("x-cache") == "hit"
    finally:
        server.stop()
