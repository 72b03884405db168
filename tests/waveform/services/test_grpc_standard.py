"""Health checking and server reflection on the in-loop gRPC server, against grpcio's own
health stub and reflection client, the server on loopback from a loop in a thread."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

from tailor.upstream.grpc.descriptors import load_pool
from waveform.protos import SERVICES, descriptor_set
from waveform.services.grpc_server import GrpcServer
from waveform.services.grpc_standard import HEALTH, health_methods, reflection_methods
from waveform.supervisor import free_ports

USERS = SERVICES["users"]
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class Standard:
    """Health and reflection for the users service, served from a loop in a thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        (self.port,) = free_ports(1)
        self.checker: Any = None
        self.server: GrpcServer = self.run(self._start())

    def run(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(10)

    async def _start(self) -> GrpcServer:
        self.checker = health.aio.HealthServicer()
        methods = health_methods(self.checker) | reflection_methods(
            [USERS], load_pool([descriptor_set()])
        )
        server = GrpcServer(methods)
        await server.start("127.0.0.1", self.port)
        await self.checker.set(USERS, SERVING)
        return server

    def close(self) -> None:
        self.run(self.server.stop(0))
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@pytest.fixture(scope="module")
def standard() -> Iterator[Standard]:
    served = Standard()
    yield served
    served.close()


@pytest.fixture(scope="module")
def channel(standard: Standard) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(f"127.0.0.1:{standard.port}") as channel:
        yield channel


def check(channel: grpc.Channel, service: str) -> Any:
    stub = health_pb2_grpc.HealthStub(channel)
    return stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)


def test_health_check_is_serving_for_the_server_and_the_service(channel: grpc.Channel) -> None:
    assert (check(channel, "").status, check(channel, USERS).status) == (SERVING, SERVING)


def test_health_check_of_an_unknown_name_is_not_found(channel: grpc.Channel) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        check(channel, "no.such.Service")
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND  # type: ignore[attr-defined]


def test_health_watch_sends_the_status_then_its_changes(channel: grpc.Channel) -> None:
    standard = Standard()  # its own: the status is changed
    try:
        with grpc.insecure_channel(f"127.0.0.1:{standard.port}") as own:
            stub = health_pb2_grpc.HealthStub(own)
            watch = stub.Watch(health_pb2.HealthCheckRequest(service=USERS), timeout=10)
            assert next(watch).status == SERVING
            standard.run(standard.checker.set(USERS, NOT_SERVING))
            assert next(watch).status == NOT_SERVING
            watch.cancel()
    finally:
        standard.close()


def test_health_watch_of_an_unknown_name_is_service_unknown(channel: grpc.Channel) -> None:
    stub = health_pb2_grpc.HealthStub(channel)
    watch = stub.Watch(health_pb2.HealthCheckRequest(service="no.such.Service"), timeout=10)
    assert next(watch).status == health_pb2.HealthCheckResponse.SERVICE_UNKNOWN
    watch.cancel()


def test_reflection_lists_the_services(channel: grpc.Channel) -> None:
    services = ProtoReflectionDescriptorDatabase(channel).get_services()
    assert {USERS, HEALTH, "grpc.reflection.v1alpha.ServerReflection"} <= set(services)


def test_reflection_finds_the_file_containing_a_symbol(channel: grpc.Channel) -> None:
    database = ProtoReflectionDescriptorDatabase(channel)
    found = database.FindFileContainingSymbol(USERS)
    assert found.package == "waveform.users.v1"
    assert "UsersService" in [service.name for service in found.service]


def test_reflection_of_an_unknown_symbol_is_a_not_found_response(channel: grpc.Channel) -> None:
    ask = channel.stream_stream(
        "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",  # v1: the same messages
        request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
        response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
    )
    request = reflection_pb2.ServerReflectionRequest(file_containing_symbol="no.Such")
    (answer,) = list(ask(iter([request]), timeout=5))
    assert answer.error_response.error_code == grpc.StatusCode.NOT_FOUND.value[0]
