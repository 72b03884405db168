"""Fault scenarios with asserted numbers. Each drives the mobile home plan (one required part,
five optional ones over five services) through fault proxies, and asserts that every response
is correct, a marked partial, or a documented 502/503/504 problem, inside the deadline.

Figures are printed as ``FIGURE <scenario> key=value`` lines (run with ``-s``) and appended as
JSON lines to ``$FAULTS_REPORT`` when it is set; docs/resilience.md quotes them.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from typing import Any

import pytest
from faultproxy import Fault
from faultworld import DEADLINE_S, GRPC_UPSTREAMS, World, connect_mode, grpc_mode
from grpcfaultproxy import GrpcFaultProxy

SLOW_MS = 800


def report(scenario: str, **figures: Any) -> None:
    print(f"FIGURE {scenario} " + " ".join(f"{k}={v}" for k, v in figures.items()))
    path = os.environ.get("FAULTS_REPORT")
    if path:
        with open(path, "a") as out:
            out.write(json.dumps({"scenario": scenario, **figures}) + "\n")


async def _load(world: World, requests: int, concurrency: int) -> None:
    """``requests`` home requests over ``concurrency`` client loops, users round-robin."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(requests):
        queue.put_nowait(n)

    async def client() -> None:
        while not queue.empty():
            n = queue.get_nowait()
            await world.home(("u1", "u2", "u3")[n % 3])

    await asyncio.gather(*(client() for _ in range(concurrency)))


async def _load_for(world: World, seconds: float, concurrency: int) -> list[float]:
    """Home requests back to back over ``concurrency`` client loops for ``seconds``; when each
    began (``time.perf_counter``)."""
    began: list[float] = []
    stop_at = time.perf_counter() + seconds

    async def client(n: int) -> None:
        while (now := time.perf_counter()) < stop_at:
            began.append(now)
            await world.home(("u1", "u2", "u3")[n % 3])
            n += 1

    await asyncio.gather(*(client(n) for n in range(concurrency)))
    return began


async def _until(predicate: Any, world: World, within_s: float, user: str = "u1") -> float:
    """Send requests back to back until ``predicate()`` holds; the seconds it took."""
    started = time.perf_counter()
    while not predicate():
        assert time.perf_counter() - started < within_s, "the condition never came"
        await world.home(user)
    return time.perf_counter() - started


# -- the world's wire ------------------------------------------------------------------------


@pytest.mark.users_catalog
@pytest.mark.skipif(not grpc_mode(), reason="gRPC mode only (WAVEFORM_UPSTREAMS=grpc)")
async def test_in_grpc_mode_the_home_calls_users_and_catalog_over_grpc(make_world) -> None:
    world = await make_world()
    seen = await world.home("u2")
    assert seen.verdict == "correct"
    for name in GRPC_UPSTREAMS:
        assert isinstance(world.proxies[name], GrpcFaultProxy)
        assert world.attempts(name) > 0, name


@pytest.mark.users_catalog
@pytest.mark.skipif(not connect_mode(), reason="Connect mode only (WAVEFORM_UPSTREAMS=connect)")
async def test_in_connect_mode_the_home_calls_users_and_catalog_over_connect(make_world) -> None:
    world = await make_world()
    world.upstream_side.connect_paths.clear()
    seen = await world.home("u2")
    assert seen.verdict == "correct"
    services = {path.split("/")[1] for path in world.upstream_side.connect_paths}
    assert services == {"waveform.users.v1.UsersService", "waveform.catalog.v1.CatalogService"}


# -- one slow optional service ----------------------------------------------------------


async def test_a_slow_optional_service_gives_marked_partials_inside_the_deadline(
    make_world,
) -> None:
    world = await make_world()
    world.proxies["recommendations"].set(Fault("latency", delay_s=SLOW_MS / 1000))
    for user in ("u1", "u2", "u3", "u1", "u2"):
        seen = await world.home(user)
        assert seen.status == 200
        assert seen.body["degraded"] == [
            {"part": "recs", "reason": "timeout", "stale": True}  # last known good, marked
        ]
        assert seen.elapsed_s < DEADLINE_S
    world.assert_all_acceptable()
    report(
        "slow_optional",
        responses=len(world.seen),
        verdicts=world.verdicts(),
        max_ms=round(max(s.elapsed_s for s in world.seen) * 1000),
    )


# -- one service down ---------------------------------------------------------------------


async def test_an_optional_service_down_shows_the_last_content_marked_stale(make_world) -> None:
    world = await make_world()
    await world.refuse("playlists")
    for _ in range(2):
        for user in ("u1", "u2", "u3"):
            seen = await world.home(user)
            assert seen.status == 200 and seen.stale
            assert seen.body["playlists"] == json.loads(world.baseline[user])["playlists"]
    world.assert_all_acceptable()
    report(
        "optional_down",
        responses=len(world.seen),
        verdicts=world.verdicts(),
        max_ms=round(max(s.elapsed_s for s in world.seen) * 1000),
    )


@pytest.mark.users_catalog
async def test_the_required_service_down_is_a_fast_502_then_503_once_the_breaker_opens(
    make_world,
) -> None:
    world = await make_world()
    await world.refuse("users")
    statuses = []
    for user in ("u1", "u2", "u3") * 4:
        seen = await world.home(user)
        statuses.append(seen.status)
    # Refused connections are 502s until the breaker opens; from then on the BFF fails fast
    # with 503 (and Retry-After) without calling the service at all.
    first_503 = statuses.index(503)
    assert first_503 > 0 and set(statuses[:first_503]) == {502}
    assert set(statuses[first_503:]) == {503}
    world.assert_all_acceptable()
    slowest = max(s.elapsed_s for s in world.seen)
    assert slowest < 0.5  # refused connections and an open breaker answer fast, not at 1 s
    report(
        "required_down",
        responses=len(world.seen),
        verdicts=world.verdicts(),
        max_ms=round(slowest * 1000),
    )


# -- a 5xx burst opens the breaker, then recovery -----------------------------------------


async def test_a_5xx_burst_opens_the_breaker_and_it_recovers_after_the_cool_down(
    make_world,
) -> None:
    world = await make_world()
    proxy = world.proxies["stream"]
    cool_down = 2.0  # the mobile profile's
    opens = lambda: world.metric("tailor_circuit_state", upstream="stream") == 2  # noqa: E731
    proxy.reset_counts()  # the baseline's calls are not the breaker's doing
    proxy.set(Fault("status", status=503))
    time_to_open = await _until(opens, world, within_s=5)
    attempts_to_open = proxy.attempts
    proxy.reset_counts()
    for user in ("u1", "u2", "u3"):  # open: no call reaches the service, the home is stale
        seen = await world.home(user)
        assert seen.status == 200 and seen.stale
    assert proxy.attempts == 0
    proxy.set(Fault())
    healthy_at = time.perf_counter()
    complete = lambda: bool(world.seen) and "tailor-degraded" not in world.seen[-1].headers  # noqa: E731
    while not complete():
        assert time.perf_counter() - healthy_at < cool_down + 2.0
        await world.home("u1")
        await asyncio.sleep(0.02)  # a client's pace, so the figure is not one busy loop
    time_to_recover = time.perf_counter() - healthy_at
    assert world.metric("tailor_circuit_state", upstream="stream") == 0
    assert world.metric("tailor_circuit_opens_total", upstream="stream") == 1
    assert time_to_recover <= cool_down + 0.5
    world.assert_all_acceptable()
    report(
        "breaker",
        time_to_open_ms=round(time_to_open * 1000),
        attempts_to_open=attempts_to_open,
        time_to_recover_ms=round(time_to_recover * 1000),
        cool_down_s=cool_down,
        verdicts=world.verdicts(),
    )


HEALTHY_S = 2.0  # of healthy traffic first: the breaker's window fills with successes


async def test_a_service_answering_500_after_healthy_traffic_opens_the_breaker_within_a_second(
    make_world,
) -> None:
    world = await make_world()
    proxy = world.proxies["stream"]
    healthy = len(await _load_for(world, HEALTHY_S, concurrency=4))
    assert world.metric("tailor_circuit_state", upstream="stream") == 0
    proxy.reset_counts()
    proxy.set(Fault("status", status=500))
    opens = lambda: world.metric("tailor_circuit_state", upstream="stream") == 2  # noqa: E731
    time_to_open = await _until(opens, world, within_s=1.0)
    world.assert_all_acceptable()
    report(
        "breaker_after_healthy",
        healthy_s=HEALTHY_S,
        healthy_requests=healthy,
        time_to_open_ms=round(time_to_open * 1000),
        attempts_to_open=proxy.attempts,
        verdicts=world.verdicts(),
    )


# -- 100% failure of one upstream: retry amplification ------------------------------------

CLIENT_REQUESTS = 150


async def _amplification(world: World) -> float:
    proxy = world.proxies["recommendations"]
    proxy.reset_counts()
    proxy.set(Fault("status", status=503))
    await _load(world, CLIENT_REQUESTS, concurrency=4)
    world.assert_all_acceptable()
    return proxy.attempts / CLIENT_REQUESTS


async def test_total_failure_of_one_upstream_costs_at_most_1_2_attempts_per_request(
    make_world,
) -> None:
    world = await make_world()
    amplification = await _amplification(world)
    assert amplification <= 1.2
    report(
        "total_failure",
        client_requests=CLIENT_REQUESTS,
        upstream_attempts=world.attempts("recommendations"),
        amplification=round(amplification, 3),
        verdicts=world.verdicts(),
    )


async def test_with_the_breaker_off_the_retry_budget_alone_keeps_amplification_at_1_2(
    make_world,
) -> None:
    world = await make_world({"default": {"breaker": {"enabled": False}}})
    amplification = await _amplification(world)
    assert amplification <= 1.2
    assert world.metric("tailor_retry_budget_exhausted_total", upstream="recommendations") > 0
    report(
        "total_failure_budget_only",
        client_requests=CLIENT_REQUESTS,
        upstream_attempts=world.attempts("recommendations"),
        amplification=round(amplification, 3),
        verdicts=world.verdicts(),
    )


OUTAGE_S = 3
#: A second's edges: the one retry the budget holds in reserve (``budget_burst``), and one
#: retry spent in the second before that reaches the service after its backoff.
EDGE_ATTEMPTS = 2


@pytest.mark.parametrize("breaker", [True, False], ids=["breaker_on", "breaker_off"])
async def test_every_second_of_a_total_failure_after_healthy_traffic_costs_at_most_1_2_attempts(
    make_world, breaker: bool
) -> None:
    world = await make_world({"default": {"breaker": {"enabled": breaker}}})
    proxy = world.proxies["recommendations"]
    await _load_for(world, HEALTHY_S, concurrency=4)
    proxy.reset_counts()
    proxy.set(Fault("status", status=503))
    outage_began = time.perf_counter()
    began = await _load_for(world, OUTAGE_S, concurrency=4)
    world.assert_all_acceptable()
    seconds = [
        (
            sum(outage_began + n <= t < outage_began + n + 1 for t in began),
            sum(outage_began + n <= t < outage_began + n + 1 for t in proxy.arrivals),
        )
        for n in range(OUTAGE_S)
    ]
    for calls, attempts in seconds:
        assert attempts <= 1.2 * calls + EDGE_ATTEMPTS, seconds
    report(
        "total_failure_per_second",
        breaker=breaker,
        requests_per_second=[calls for calls, _ in seconds],
        attempts_per_second=[attempts for _, attempts in seconds],
        amplification_per_second=[round(attempts / calls, 3) for calls, attempts in seconds],
        verdicts=world.verdicts(),
    )


# -- overload at twice capacity -------------------------------------------------------------

CAPACITY = 8
HOP_DELAY_S = 0.05


async def test_overload_at_twice_capacity_sheds_fast_and_serves_the_rest(make_world) -> None:
    world = await make_world({"shed": {"max_in_flight": CAPACITY, "max_queue_wait_s": 0.02}})
    for proxy in world.proxies.values():  # three hops: about 150 ms a home
        proxy.set(Fault("latency", delay_s=HOP_DELAY_S))
    stop_at = time.perf_counter() + 1.5

    async def client(n: int) -> None:
        while time.perf_counter() < stop_at:
            seen = await world.home(("u1", "u2", "u3")[n % 3])
            if seen.status == 503:
                await asyncio.sleep(0.01)  # a client backing off a little after a 503

    await asyncio.gather(*(client(n) for n in range(2 * CAPACITY)))
    shed = [s for s in world.seen if s.status == 503]
    served = [s for s in world.seen if s.status == 200]
    assert shed and served
    assert all(s.headers.get("retry-after") == "1" for s in shed)
    shed_ms = sorted(s.elapsed_s * 1000 for s in shed)
    p99_shed = shed_ms[int(len(shed_ms) * 0.99) - 1] if len(shed_ms) > 1 else shed_ms[0]
    # The queue wait is 20 ms; the rest of the 50 ms is for a loaded 2-core machine. The p99,
    # not the max: one scheduling hiccup of the host must not decide this.
    assert p99_shed < 50
    world.assert_all_acceptable()
    report(
        "overload_2x",
        capacity=CAPACITY,
        clients=2 * CAPACITY,
        served=len(served),
        shed=len(shed),
        median_shed_ms=round(shed_ms[len(shed_ms) // 2], 1),
        p99_shed_ms=round(p99_shed, 1),
        slowest_shed_ms=round(shed_ms[-1], 1),
        slowest_served_ms=round(max(s.elapsed_s for s in served) * 1000),
        verdicts=world.verdicts(),
    )


# -- resets, truncated bodies and slow drips on one service --------------------------------


@pytest.mark.users_catalog
async def test_resets_truncations_and_drips_on_a_service_never_give_a_wrong_answer(
    make_world,
) -> None:
    world = await make_world({"default": {"breaker": {"enabled": False}}})
    proxy = world.proxies["catalog"]
    faults = (
        Fault("reset", ratio=0.3),
        Fault("truncate", ratio=0.3),
        Fault("drip", chunk=256, interval_s=0.2, ratio=0.3),  # past the part's 0.4 s timeout
    )
    for fault in faults:
        proxy.set(fault)
        await _load(world, 30, concurrency=3)
    world.assert_all_acceptable()
    assert world.verdicts().get("partial", 0) > 0  # the faults did bite
    report(
        "transport_faults",
        responses=len(world.seen),
        faulted=proxy.faulted,
        verdicts=world.verdicts(),
        max_ms=round(max(s.elapsed_s for s in world.seen) * 1000),
    )
