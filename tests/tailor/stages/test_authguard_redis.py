"""The authguard stage on the Redis backend: BFF instances share one failure count per IP, a
good credential costs no Redis round trip, and an unreachable Redis leaves the limit to
each process's memory instead of dropping it."""

from __future__ import annotations

import os
from typing import Any

import pytest
from authguard_helpers import BAD, GOOD, JWKS_PATH, guarded, send, statuses
from harness import assert_problem, jwks
from upstreams import closed_port

from tailor import BFF


@pytest.fixture
async def accounts(upstream):
    upstream.script("GET", JWKS_PATH, json=jwks("k1"))
    return upstream


def on_redis(make_bff: Any, accounts_url: str, redis_url: str, prefix: str, limit: int) -> BFF:
    return guarded(
        make_bff,
        accounts_url,
        limit,
        backend="redis",
        key_prefix=prefix,
        backend_timeout_s=0.3,
        backend_retry_s=0.0,
        redis_url=redis_url,
    )


def backend_errors(bff: BFF) -> float:
    value = bff.metrics.registry.get_sample_value("tailor_auth_failures_backend_errors_total")
    return value or 0.0


async def test_two_bff_instances_share_the_failure_count(
    make_bff, accounts, redis_url: str
) -> None:
    prefix = f"test:{os.urandom(4).hex()}"  # the session's Redis outlives every test
    first = on_redis(make_bff, accounts.url, redis_url, prefix, limit=4)
    second = on_redis(make_bff, accounts.url, redis_url, prefix, limit=4)
    assert await statuses(first, 2, headers=BAD) == [401, 401]
    assert await statuses(second, 2, headers=BAD) == [401, 401]
    # Neither instance has refused this IP before: the count that refuses it is shared.
    assert_problem(await send(first, headers=BAD), 429)
    assert_problem(await send(second, headers=BAD), 429)


async def test_a_good_credential_costs_no_redis_round_trip(make_bff, accounts) -> None:
    # Nothing listens at this Redis: any round trip would fail and be counted.
    dead = f"redis://127.0.0.1:{closed_port()}/0"
    bff = on_redis(make_bff, accounts.url, dead, "test:dead", limit=4)
    assert await statuses(bff, 5, headers=GOOD) == [200] * 5
    assert backend_errors(bff) == 0
    # A failure does go to Redis, and the failed round trip shows in the count.
    assert (await send(bff, headers=BAD)).status == 401
    assert backend_errors(bff) == 1


async def test_an_unreachable_redis_leaves_the_count_to_this_process(make_bff, accounts) -> None:
    dead = f"redis://127.0.0.1:{closed_port()}/0"
    bff = on_redis(make_bff, accounts.url, dead, "test:dead", limit=2)
    assert await statuses(bff, 3, headers=BAD) == [401, 401, 429]
    assert backend_errors(bff) == 3
