"""The resilient transport at the transport seam: which calls are retried, how often, within
which budget; the breaker, the bulkhead and hedging."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
import pytest
from prometheus_client import CollectorRegistry

from tailor.errors import UpstreamUnavailable
from tailor.resilience.allowance import CallAllowance
from tailor.resilience.errors import BulkheadFull, CircuitOpen, FanOutLimitExceeded
from tailor.resilience.runtime import Resilience
from tailor.resilience.settings import ResilienceSettings
from tailor.resilience.transport import ResilientTransport
from tailor.upstream.mock import MockTransport
from tailor.upstream.transport import UpstreamRequest, UpstreamResponse

Answer = Callable[[UpstreamRequest], Awaitable[UpstreamResponse]]

# A budget holding two retries, so that a first call may use all three attempts.
FAST_RETRY = {"backoff_base_s": 0.001, "backoff_max_s": 0.002, "budget_burst": 2}


def _transport(answer: Answer, **policy: Any) -> tuple[ResilientTransport, MockTransport]:
    default = {"retry": FAST_RETRY, **policy}
    settings = msgspec.convert({"default": default}, ResilienceSettings)
    mock = MockTransport(answer)
    return ResilientTransport(mock, Resilience(settings, ["svc"], CollectorRegistry())), mock


def _request(method: str = "GET", timeout_s: float = 2.0, **kw: Any) -> UpstreamRequest:
    headers = [("x-deadline-ms", str(int(timeout_s * 1000))), *kw.get("headers", [])]
    return UpstreamRequest(
        "svc",
        method,
        "http://svc.invalid/x",
        headers,
        timeout_s,
        idempotent=kw.get("idempotent"),
        allowance=kw.get("allowance"),
    )


def _status(status: int) -> Answer:
    async def answer(request: UpstreamRequest) -> UpstreamResponse:
        return UpstreamResponse(status, {}, b"{}")

    return answer


def _sample(t: ResilientTransport, name: str, **labels: str) -> float:
    return t.resilience.metrics.registry.get_sample_value(name, labels) or 0.0


async def test_an_idempotent_get_answering_503_is_tried_three_times() -> None:
    transport, mock = _transport(_status(503))
    response = await transport.send(_request())
    assert response.status == 503
    assert len(mock.requests) == 3
    assert _sample(transport, "tailor_upstream_retries_total", upstream="svc") == 2


async def test_a_post_is_not_retried() -> None:
    transport, mock = _transport(_status(503))
    await transport.send(_request("POST"))
    assert len(mock.requests) == 1


async def test_a_post_with_an_idempotency_key_is_retried() -> None:
    transport, mock = _transport(_status(503))
    await transport.send(_request("POST", headers=[("idempotency-key", "k1")]))
    assert len(mock.requests) == 3


async def test_a_get_declared_not_idempotent_is_not_retried() -> None:
    transport, mock = _transport(_status(503))
    await transport.send(_request(idempotent=False))
    assert len(mock.requests) == 1


async def test_a_404_or_500_is_an_answer_not_a_retryable_failure() -> None:
    for status in (404, 500):
        transport, mock = _transport(_status(status))
        assert (await transport.send(_request())).status == status
        assert len(mock.requests) == 1


async def test_a_connection_failure_is_retried_and_then_raised() -> None:
    async def refuse(request: UpstreamRequest) -> UpstreamResponse:
        raise UpstreamUnavailable("svc", "connection failed")

    transport, mock = _transport(refuse)
    with pytest.raises(UpstreamUnavailable):
        await transport.send(_request())
    assert len(mock.requests) == 3


async def test_a_retry_succeeding_returns_its_answer() -> None:
    answers = iter([503, 200])

    async def flaky(request: UpstreamRequest) -> UpstreamResponse:
        return UpstreamResponse(next(answers), {}, b"{}")

    transport, mock = _transport(flaky)
    assert (await transport.send(_request())).status == 200
    assert len(mock.requests) == 2


async def test_retries_stop_when_the_budget_is_spent() -> None:
    transport, mock = _transport(
        _status(503),
        retry={**FAST_RETRY, "budget_ratio": 0.2, "budget_burst": 1},
        breaker={"enabled": False},
    )
    for _ in range(50):
        await transport.send(_request())
    assert len(mock.requests) <= 50 * 1.2
    assert _sample(transport, "tailor_retry_budget_exhausted_total", upstream="svc") > 0


async def test_no_retry_is_started_past_the_call_budget() -> None:
    async def slow_503(request: UpstreamRequest) -> UpstreamResponse:
        await asyncio.sleep(0.3)
        return UpstreamResponse(503, {}, b"{}")

    # The first attempt has 0.2 s of slack on a loaded machine before it would itself time out;
    # a retry (after a jittered backoff of up to 0.25 s) gets only what is left of the budget.
    transport, mock = _transport(slow_503, retry={"backoff_base_s": 0.25, "backoff_max_s": 0.25})
    await transport.send(_request(timeout_s=0.5))
    assert len(mock.requests) <= 2
    assert all(r.timeout_s <= 0.5 for r in mock.requests)


async def test_a_retry_tells_the_service_the_budget_that_is_left() -> None:
    async def slow_503(request: UpstreamRequest) -> UpstreamResponse:
        await asyncio.sleep(0.05)
        return UpstreamResponse(503, {}, b"{}")

    transport, mock = _transport(slow_503, retry={**FAST_RETRY, "max_attempts": 2})
    await transport.send(_request(timeout_s=0.5))
    first, second = (dict(r.headers)["x-deadline-ms"] for r in mock.requests)
    assert 450 < int(first) <= 500
    assert int(second) <= 500 - 50


async def test_the_breaker_opens_and_then_fails_fast_without_calling() -> None:
    transport, mock = _transport(
        _status(503), breaker={"min_calls": 5, "failure_rate": 0.5}, retry={"max_attempts": 1}
    )
    for _ in range(5):
        await transport.send(_request())
    with pytest.raises(CircuitOpen):
        await transport.send(_request())
    assert len(mock.requests) == 5
    assert _sample(transport, "tailor_circuit_state", upstream="svc") == 2
    assert _sample(transport, "tailor_circuit_opens_total", upstream="svc") == 1
    assert _sample(transport, "tailor_circuit_rejections_total", upstream="svc") == 1


async def test_a_service_answering_only_500s_opens_the_breaker_after_five_calls() -> None:
    transport, mock = _transport(_status(500))  # the default policy
    for _ in range(5):
        assert (await transport.send(_request())).status == 500
    with pytest.raises(CircuitOpen):
        await transport.send(_request())
    assert len(mock.requests) == 5


async def test_transport_errors_open_the_breaker() -> None:
    async def refuse(request: UpstreamRequest) -> UpstreamResponse:
        raise UpstreamUnavailable("svc", "connection failed")

    transport, mock = _transport(refuse, retry={"max_attempts": 1})
    for _ in range(5):
        with pytest.raises(UpstreamUnavailable) as info:
            await transport.send(_request())
        assert not isinstance(info.value, CircuitOpen)
    with pytest.raises(CircuitOpen):
        await transport.send(_request())
    assert len(mock.requests) == 5


async def test_a_status_outside_failure_statuses_leaves_the_breaker_closed() -> None:
    transport, mock = _transport(_status(500), failure_statuses=["502-504"])
    for _ in range(10):
        await transport.send(_request())
    assert len(mock.requests) == 10
    assert _sample(transport, "tailor_circuit_state", upstream="svc") == 0


async def test_the_bulkhead_fails_fast_over_its_limit() -> None:
    gate = asyncio.Event()

    async def held(request: UpstreamRequest) -> UpstreamResponse:
        await gate.wait()
        return UpstreamResponse(200, {}, b"{}")

    transport, mock = _transport(held, bulkhead={"max_concurrent": 2, "max_wait_s": 0.01})
    first = [asyncio.ensure_future(transport.send(_request())) for _ in range(2)]
    await asyncio.sleep(0)
    with pytest.raises(BulkheadFull):
        await transport.send(_request())
    gate.set()
    assert [r.status for r in await asyncio.gather(*first)] == [200, 200]
    assert len(mock.requests) == 2


async def test_a_hedge_answers_when_the_first_attempt_is_slow_and_the_loser_is_cancelled() -> None:
    cancelled = asyncio.Event()
    calls = 0

    async def first_slow(request: UpstreamRequest) -> UpstreamResponse:
        nonlocal calls
        calls += 1
        if calls == 1:
            try:
                await asyncio.sleep(5)
            except asyncio.CancelledError:
                cancelled.set()
                raise
        return UpstreamResponse(200, {}, b'{"n": 2}')

    transport, _ = _transport(first_slow, hedge_after_s=0.02)
    async with asyncio.timeout(1):
        response = await transport.send(_request())
        await cancelled.wait()
    assert response.body == b'{"n": 2}'
    assert _sample(transport, "tailor_upstream_hedges_total", upstream="svc") == 1


async def test_no_hedge_when_the_first_attempt_answers_in_time() -> None:
    transport, mock = _transport(_status(200), hedge_after_s=0.05)
    await transport.send(_request())
    assert len(mock.requests) == 1


async def test_a_request_cannot_make_more_calls_than_its_allowance() -> None:
    transport, mock = _transport(_status(200))
    allowance = CallAllowance(2)
    await transport.send(_request(allowance=allowance))
    await transport.send(_request(allowance=allowance))
    with pytest.raises(FanOutLimitExceeded):
        await transport.send(_request(allowance=allowance))
    assert len(mock.requests) == 2


async def test_retries_do_not_draw_on_the_request_allowance() -> None:
    transport, mock = _transport(_status(503))
    await transport.send(_request(allowance=CallAllowance(1)))
    assert len(mock.requests) == 3


async def test_a_probe_cancelled_while_queued_for_the_bulkhead_does_not_wedge_the_breaker() -> None:
    import msgspec

    from tailor.resilience.breaker import BreakerState
    from tailor.resilience.runtime import Resilience
    from tailor.resilience.settings import ResilienceSettings
    from tailor.resilience.transport import ResilientTransport
    from tailor.upstream.transport import UpstreamRequest, UpstreamResponse

    release, entered = asyncio.Event(), asyncio.Event()

    class Held:
        async def send(self, request: UpstreamRequest) -> UpstreamResponse:
            entered.set()
            await release.wait()
            return UpstreamResponse(200, {}, b"{}")

        async def aclose(self) -> None:
            return None

    settings = msgspec.convert(
        {"upstreams": {"u": {"bulkhead": {"max_concurrent": 1, "max_wait_s": 5.0},
                             "breaker": {"cool_down_s": 1.0}}}},
        ResilienceSettings,
    )  # fmt: skip
    resilience = Resilience(settings, ["u"])
    transport = ResilientTransport(Held(), resilience)
    guards = resilience.guards("u")
    request = UpstreamRequest("u", "GET", "http://u/", [], 5.0)
    hog = asyncio.ensure_future(transport.send(request))  # holds the only slot
    await entered.wait()
    guards.breaker._open()
    guards.breaker._opened_at -= 2.0  # the cool-down is over: the next call is the probe
    probe = asyncio.ensure_future(transport.send(request))
    await asyncio.sleep(0)  # one turn: the probe is admitted and queues for the slot
    assert guards.breaker.state is BreakerState.HALF_OPEN and guards.bulkhead._waiters
    probe.cancel()  # e.g. the endpoint deadline ends it while it queues
    with pytest.raises(asyncio.CancelledError):
        await probe
    release.set()
    await hog
    assert guards.breaker.state is BreakerState.HALF_OPEN
    response = await transport.send(request)  # a new probe is admitted, and closes it
    assert response.status == 200
    assert guards.breaker.state is BreakerState.CLOSED
