"""The gRPC fault proxy itself, between a real gRPC client and the fault world's users service
served over gRPC: each fault does what it says, and switching it takes effect on the next call."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest
from faultproxy import Fault
from faultworld import grpc_world_app
from google.protobuf.message import DecodeError
from grpcfaultproxy import GrpcFaultProxy

from tailor.upstream.grpc.descriptors import bindings, load_pool
from waveform.protos import SERVICES, descriptor_set
from waveform.services.grpc_api import start_grpc
from waveform.supervisor import free_ports

GET_USER = next(
    b
    for b in bindings(load_pool([descriptor_set()]), SERVICES["users"], "users")
    if b.template == "/users/{user_id}"
)


@pytest.fixture
async def proxy() -> AsyncIterator[GrpcFaultProxy]:
    (port,) = free_ports(1)
    server = await start_grpc(grpc_world_app(), "users", "127.0.0.1", port)
    proxy = await GrpcFaultProxy.start(f"127.0.0.1:{port}")
    yield proxy
    await proxy.close()
    await server.stop(0)


async def _call(proxy: GrpcFaultProxy, *, wait_for_ready: bool = False) -> bytes:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{proxy.port}") as channel:
        call = channel.unary_unary(GET_USER.method)
        request = GET_USER.request(user_id="u1").SerializeToString()
        answer: bytes = await call(request, timeout=2, wait_for_ready=wait_for_ready)
        return answer


async def test_pass_relays_the_service_answer_and_counts_the_call(proxy) -> None:
    user = GET_USER.response.FromString(await _call(proxy))
    assert (user.id, user.username, proxy.attempts) == ("u1", "user-u1", 1)


async def test_status_is_the_grpc_code_of_that_http_status(proxy) -> None:
    proxy.set(Fault("status", status=503))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _call(proxy)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_status_500_is_internal(proxy) -> None:
    proxy.set(Fault("status", status=500))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _call(proxy)
    assert caught.value.code() == grpc.StatusCode.INTERNAL


async def test_reset_is_unavailable(proxy) -> None:
    proxy.set(Fault("reset"))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _call(proxy)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_truncate_relays_a_message_that_does_not_parse(proxy) -> None:
    proxy.set(Fault("truncate"))
    answer = await _call(proxy)
    with pytest.raises(DecodeError):
        GET_USER.response.FromString(answer)


async def test_a_latency_past_the_deadline_is_deadline_exceeded(proxy) -> None:
    proxy.set(Fault("latency", delay_s=5.0))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{proxy.port}") as channel:
            request = GET_USER.request(user_id="u1").SerializeToString()
            await channel.unary_unary(GET_USER.method)(request, timeout=0.2)
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED


async def test_refuse_and_accept_switch_the_server_off_and_on(proxy) -> None:
    await proxy.refuse()
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _call(proxy)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    await proxy.accept()
    # Waiting for the channel to connect again: gRPC backs off after a refused connection.
    assert GET_USER.response.FromString(await _call(proxy, wait_for_ready=True)).id == "u1"
