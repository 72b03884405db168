"""The stage on the Redis backend: limits hold across BFF instances (two processes' worth),
and a Redis that is gone degrades as configured (fail open: served; fail closed: 503), is
counted, and never becomes a 500."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from harness import assert_problem
from ratelimit_helpers import send

from tailor import BFF, Request, Response, json_response
from waveform.redis_server import RedisServer


def redis_limited(make_bff: Any, redis_url: str, limit: int, **extra: Any) -> BFF:
    # A prefix per test: the session's Redis outlives every test.
    prefix = f"test:{os.urandom(4).hex()}"
    bff: BFF = make_bff(
        {
            "state": {"redis_url": redis_url},
            "rate_limit": {
                "backend": "redis",
                "key_prefix": prefix,
                "backend_timeout_s": 0.3,
                "backend_retry_s": 0.0,
                "policies": {"ip": {"key": "ip", "limit": limit}},
                **extra,
            },
        }
    )

    @bff.get("/read", auth=False)
    async def ok(request: Request) -> Response:
        return json_response({"ok": True})

    return bff


def errors_counted(bff: BFF, action: str) -> float:
    value = bff.metrics.registry.get_sample_value(
        "tailor_ratelimit_backend_errors_total", {"backend": "redis", "action": action}
    )
    return value or 0.0


async def test_two_bff_instances_share_one_limit(make_bff, redis_url: str) -> None:
    first = redis_limited(make_bff, redis_url, 5)
    prefix = first.config.rate_limit.key_prefix
    second = redis_limited(make_bff, redis_url, 5, key_prefix=prefix)
    results = await asyncio.gather(*(send(b) for b in [first, second] * 4))
    assert sorted(r.status for r in results) == [200] * 5 + [429] * 3


async def test_fail_open_serves_requests_while_redis_is_down(
    make_bff, redis_server: RedisServer, redis_url: str
) -> None:
    bff = redis_limited(make_bff, redis_url, 1, on_backend_error="fail_open")
    assert (await send(bff)).status == 200
    redis_server.stop()
    try:
        statuses = [(await send(bff)).status for _ in range(3)]
    finally:
        redis_server.start()
    assert statuses == [200, 200, 200]  # unlimited while the counters are unreachable
    assert errors_counted(bff, "fail_open") == 3


async def test_fail_closed_answers_503_while_redis_is_down(
    make_bff, redis_server: RedisServer, redis_url: str
) -> None:
    bff = redis_limited(make_bff, redis_url, 100, on_backend_error="fail_closed")
    assert (await send(bff)).status == 200
    redis_server.stop()
    try:
        responses = [await send(bff) for _ in range(3)]
    finally:
        redis_server.start()
    for response in responses:
        assert_problem(response, 503)
        assert response.header("retry-after") == "1"
    assert errors_counted(bff, "fail_closed") == 3


async def test_limits_apply_again_once_redis_is_back(
    make_bff, redis_server: RedisServer, redis_url: str
) -> None:
    bff = redis_limited(make_bff, redis_url, 2, on_backend_error="fail_closed")
    assert (await send(bff)).status == 200
    redis_server.stop()
    try:
        assert (await send(bff)).status == 503
    finally:
        redis_server.start()
    # A restarted redis-server has lost its script cache (NOSCRIPT) and its keys.
    assert [(await send(bff)).status for _ in range(3)] == [200, 200, 429]


async def test_a_redis_that_never_answers_costs_at_most_the_backend_timeout(
    make_bff, tmp_path
) -> None:
    # A listening socket nobody accepts on: connects, then silence, like a hung Redis.
    import socket

    hung = socket.socket()
    hung.bind(("127.0.0.1", 0))
    hung.listen(1)
    try:
        url = f"redis://127.0.0.1:{hung.getsockname()[1]}/0"
        bff = redis_limited(make_bff, url, 5, on_backend_error="fail_open")
        loop = asyncio.get_running_loop()
        started = loop.time()
        response = await send(bff)
        elapsed = loop.time() - started
    finally:
        hung.close()
    assert response.status == 200
    assert elapsed < 2.0  # backend_timeout_s is 0.3; generous margin for a loaded machine
