"""A service's gRPC server in its own event loop, against grpcio's client (and a raw HTTP/2
client for what grpcio never sends): the users methods answered from a real ASGI app by
:func:`waveform.services.grpc_api.start_grpc`, served on loopback from a loop in a thread."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import grpc
import ngh2
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tailor.upstream.grpc.descriptors import bindings, load_pool
from tailor.upstream.grpc.messages import frame
from tailor.upstream.grpc.status import decode_details
from waveform.protos import SERVICES, descriptor_set
from waveform.services.grpc_api import start_grpc
from waveform.services.grpc_server import MAX_RECEIVE_BYTES, GrpcServer
from waveform.supervisor import free_ports

GET_USER = next(
    b
    for b in bindings(load_pool([descriptor_set()]), SERVICES["users"], "users")
    if b.template == "/users/{user_id}"
)
T = TypeVar("T")


@dataclass
class Routes:
    """The users routes the calls are answered from: ``u404`` is a problem, ``held`` waits
    for ``release``; what a held route went through is kept in threading events."""

    started: threading.Event = field(default_factory=threading.Event)
    cancelled: threading.Event = field(default_factory=threading.Event)
    release: asyncio.Event | None = None

    def app(self) -> Starlette:
        async def user(request: Request) -> JSONResponse:
            uid = request.path_params["uid"]
            if uid == "u404":
                problem = {"title": "Not Found", "status": 404, "detail": "no user 'u404'"}
                return JSONResponse(problem, status_code=404)
            if uid == "held":
                self.release = asyncio.Event()
                self.started.set()
                try:
                    await self.release.wait()
                except asyncio.CancelledError:
                    self.cancelled.set()
                    raise
            return JSONResponse({"id": uid, "username": f"user-{uid}", "country": "DE"})

        return Starlette(routes=[Route("/users/{uid}", user)])


@dataclass
class Served:
    port: int
    routes: Routes
    server: GrpcServer
    loop: asyncio.AbstractEventLoop

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 10) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield loop
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.close()


@pytest.fixture
def served(loop: asyncio.AbstractEventLoop) -> Iterator[Served]:
    routes = Routes()
    (port,) = free_ports(1)
    start = start_grpc(routes.app(), "users", "127.0.0.1", port)
    server = asyncio.run_coroutine_threadsafe(start, loop).result(10)
    served = Served(port, routes, server, loop)
    yield served
    served.run(server.stop(0))


@pytest.fixture
def channel(served: Served) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(f"127.0.0.1:{served.port}") as channel:
        yield channel


def get_user(channel: grpc.Channel, user_id: str) -> Any:
    return channel.unary_unary(
        GET_USER.method,
        request_serializer=lambda m: m.SerializeToString(),
        response_deserializer=GET_USER.response.FromString,
    )


def test_a_unary_call_is_answered_by_its_route(channel: grpc.Channel) -> None:
    user = get_user(channel, "u1")(GET_USER.request(user_id="u1"), timeout=5)
    assert (user.id, user.username, user.country) == ("u1", "user-u1", "DE")


def test_a_message_of_many_frames_is_read_whole(channel: grpc.Channel) -> None:
    user_id = "y" * (1024 * 1024)  # 64 DATA frames of 16 KiB
    assert get_user(channel, user_id)(GET_USER.request(user_id=user_id), timeout=5).id == user_id


def test_a_route_problem_is_its_code_with_a_details_trailer(channel: grpc.Channel) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        get_user(channel, "u404")(GET_USER.request(user_id="u404"), timeout=5)
    error: Any = caught.value
    assert (error.code(), error.details()) == (grpc.StatusCode.NOT_FOUND, "no user 'u404'")
    message, details = decode_details(dict(error.trailing_metadata())["grpc-status-details-bin"])
    assert message == "no user 'u404'"
    assert details[0]["reason"] == "NOT_FOUND" and details[0]["metadata"] == {"http_status": "404"}


def test_an_unknown_method_is_unimplemented(channel: grpc.Channel) -> None:
    call = channel.unary_unary("/waveform.users.v1.UsersService/Nope")
    with pytest.raises(grpc.RpcError) as caught:
        call(b"", timeout=5)
    assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED  # type: ignore[attr-defined]


def test_a_message_past_the_receive_limit_is_resource_exhausted(channel: grpc.Channel) -> None:
    request = GET_USER.request(user_id="x" * MAX_RECEIVE_BYTES)
    with pytest.raises(grpc.RpcError) as caught:
        get_user(channel, "x")(request, timeout=5)
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED  # type: ignore[attr-defined]


def test_a_compressed_call_is_unimplemented(channel: grpc.Channel) -> None:
    call = get_user(channel, "u1")
    with pytest.raises(grpc.RpcError) as caught:
        call(GET_USER.request(user_id="u1"), timeout=5, compression=grpc.Compression.Gzip)
    assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED  # type: ignore[attr-defined]


def test_a_client_cancel_cancels_the_route_task(served: Served, channel: grpc.Channel) -> None:
    future = get_user(channel, "held").future(GET_USER.request(user_id="held"), timeout=10)
    assert served.routes.started.wait(5)
    future.cancel()
    assert served.routes.cancelled.wait(5)


def test_a_deadline_passing_cancels_the_route_task(served: Served, channel: grpc.Channel) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        get_user(channel, "held")(GET_USER.request(user_id="held"), timeout=0.3)
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED  # type: ignore[attr-defined]
    assert served.routes.cancelled.wait(5)


def test_the_server_ends_a_call_past_its_deadline_itself(served: Served) -> None:
    # A client that never resets the stream: the server's own timer ends the call.
    with RawClient(served.port) as client:
        request = frame(GET_USER.request(user_id="held").SerializeToString())
        events = client.call([*_head(GET_USER.method), (b"grpc-timeout", b"200m")], request)
    assert dict(events[0].headers)[b"grpc-status"] == b"4"  # DEADLINE_EXCEEDED, trailers-only
    assert served.routes.cancelled.wait(5)


def test_a_wrong_content_type_is_http_415(served: Served) -> None:
    with RawClient(served.port) as client:
        head = _head(GET_USER.method, content_type=b"application/json")
        events = client.call(head, b"{}")
    assert dict(events[0].headers)[b":status"] == b"415"


def test_stop_finishes_a_call_in_flight_within_the_grace(
    served: Served, channel: grpc.Channel
) -> None:
    future = get_user(channel, "held").future(GET_USER.request(user_id="held"), timeout=10)
    assert served.routes.started.wait(5)

    async def stop_while_held() -> bool:
        stopping = asyncio.ensure_future(served.server.stop(5))
        done, _ = await asyncio.wait([stopping], timeout=0.3)
        assert served.routes.release is not None
        served.routes.release.set()
        await stopping
        return not done

    assert served.run(stop_while_held())  # stop waited for the call
    assert future.result(5).id == "held"
    assert not served.routes.cancelled.is_set()


def test_stop_cancels_a_call_that_outlives_the_grace(served: Served, channel: grpc.Channel) -> None:
    future = get_user(channel, "held").future(GET_USER.request(user_id="held"), timeout=10)
    assert served.routes.started.wait(5)
    served.run(served.server.stop(0.2))
    assert served.routes.cancelled.wait(5)
    assert future.exception(5).code() == grpc.StatusCode.UNAVAILABLE


def test_a_garbage_frame_gets_a_goaway_and_the_server_serves_on(served: Served) -> None:
    with socket.create_connection(("127.0.0.1", served.port), timeout=5) as sock:
        # A SETTINGS frame of 5 bytes (a multiple of 6 is required): FRAME_SIZE_ERROR.
        sock.sendall(ngh2_preface() + b"\x00\x00\x05\x04\x00\x00\x00\x00\x00" + b"\x00" * 5)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    assert (7, 6) in _frames(received)  # GOAWAY, FRAME_SIZE_ERROR
    with grpc.insecure_channel(f"127.0.0.1:{served.port}") as channel:
        assert get_user(channel, "u1")(GET_USER.request(user_id="u1"), timeout=5).id == "u1"


# -- a raw HTTP/2 client ------------------------------------------------------------------


def ngh2_preface() -> bytes:
    return b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def _frames(data: bytes) -> list[tuple[int, int]]:
    """(type, GOAWAY error code or 0) of each frame in ``data`` (after no preface)."""
    out = []
    while len(data) >= 9:
        length, kind = int.from_bytes(data[:3], "big"), data[3]
        payload = data[9 : 9 + length]
        out.append((kind, int.from_bytes(payload[4:8], "big") if kind == 7 else 0))
        data = data[9 + length :]
    return out


def _head(path: str, content_type: bytes = b"application/grpc") -> list[tuple[bytes, bytes]]:
    return [
        (b":method", b"POST"),
        (b":scheme", b"http"),
        (b":authority", b"127.0.0.1"),
        (b":path", path.encode()),
        (b"content-type", content_type),
        (b"te", b"trailers"),
    ]


class RawClient:
    """libnghttp2's client role over a blocking socket: one call, the events of its answer."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.h2 = ngh2.Connection(ngh2.Role.CLIENT)
        self.h2.initiate_connection()

    def __enter__(self) -> RawClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()

    def call(self, head: list[tuple[bytes, bytes]], body: bytes) -> list[Any]:
        """The answer's head (or trailers-only head) and trailers events, in order."""
        stream_id = self.h2.send_request(head)
        self.h2.send_data(stream_id, body, end_stream=True)
        events: list[Any] = []
        while True:
            self.sock.sendall(self.h2.data_to_send())
            data = self.sock.recv(65536)
            assert data, "the server closed the connection"
            self.h2.receive_data(data)
            for event in self.h2.events():
                if getattr(event, "stream_id", None) != stream_id:
                    continue
                if isinstance(event, ngh2.ResponseReceived | ngh2.TrailersReceived):
                    events.append(event)
                if isinstance(event, ngh2.StreamClosed | ngh2.StreamReset):
                    return events
