"""The fault proxy itself, seen through each real transport (the default in-loop HTTP/1.1 one
and pyreqwest): each fault does what it says, and switching it at runtime takes effect on the
next request."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from faultproxy import Fault, FaultProxy

from tailor.config import UpstreamClientSettings
from tailor.errors import UpstreamError, UpstreamTimeout, UpstreamUnavailable
from tailor.upstream.build import build_transport
from tailor.upstream.transport import Transport, UpstreamRequest, UpstreamResponse

BODY = b'{"items": [' + b",".join(b'{"n": %d}' % n for n in range(50)) + b"]}"


@pytest.fixture
async def proxy() -> AsyncIterator[FaultProxy]:
    async def answer(request: web.Request) -> web.Response:
        return web.Response(body=BODY, content_type="application/json")

    app = web.Application()
    app.router.add_get("/x", answer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    proxy = await FaultProxy.start(f"http://127.0.0.1:{runner.addresses[0][1]}")
    yield proxy
    await proxy.close()
    await runner.cleanup()


@pytest.fixture(params=["http1", "pyreqwest"])
async def transport(request: pytest.FixtureRequest) -> AsyncIterator[Transport]:
    transport = build_transport(UpstreamClientSettings(transport=request.param))
    yield transport
    await transport.aclose()


async def _get(transport: Transport, proxy: FaultProxy, timeout_s: float = 2.0) -> UpstreamResponse:
    return await transport.send(UpstreamRequest("svc", "GET", f"{proxy.url}/x", [], timeout_s))


async def test_pass_forwards_the_upstream_answer_and_counts_the_attempt(proxy, transport) -> None:
    response = await _get(transport, proxy)
    assert (response.status, response.body) == (200, BODY)
    assert proxy.attempts == 1


async def test_latency_delays_the_answer(proxy, transport) -> None:
    proxy.set(Fault("latency", delay_s=0.2))
    started = time.perf_counter()
    assert (await _get(transport, proxy)).body == BODY
    assert time.perf_counter() - started >= 0.2


async def test_status_answers_without_reaching_the_upstream(proxy, transport) -> None:
    proxy.set(Fault("status", status=503))
    assert (await _get(transport, proxy)).status == 503


async def test_reset_is_a_transport_failure(proxy, transport) -> None:
    proxy.set(Fault("reset"))
    with pytest.raises(UpstreamUnavailable):
        await _get(transport, proxy)


async def test_refuse_and_accept_switch_the_listener_off_and_on(proxy, transport) -> None:
    await proxy.refuse()
    with pytest.raises(UpstreamUnavailable):
        await _get(transport, proxy)
    await proxy.accept()
    assert (await _get(transport, proxy)).status == 200


async def test_truncate_cuts_the_body_and_drops_the_connection(proxy, transport) -> None:
    proxy.set(Fault("truncate"))
    with pytest.raises(UpstreamError):
        await _get(transport, proxy)


async def test_drip_sends_the_whole_body_slowly(proxy, transport) -> None:
    proxy.set(Fault("drip", chunk=len(BODY) // 4 + 1, interval_s=0.05))
    started = time.perf_counter()
    assert (await _get(transport, proxy)).body == BODY
    assert time.perf_counter() - started >= 0.15


async def test_drip_slower_than_the_timeout_is_a_timeout(proxy, transport) -> None:
    proxy.set(Fault("drip", chunk=8, interval_s=0.05))
    with pytest.raises(UpstreamTimeout):
        await _get(transport, proxy, timeout_s=0.2)


async def test_ratio_faults_only_that_share_of_requests(proxy, transport) -> None:
    proxy.set(Fault("status", status=503, ratio=0.5))
    statuses = [(await _get(transport, proxy)).status for _ in range(40)]
    assert 5 <= statuses.count(503) <= 35
    assert proxy.faulted == statuses.count(503)
