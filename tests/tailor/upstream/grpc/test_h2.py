"""tailor's HTTP/2 client for gRPC (tailor.upstream.grpc.h2) on the wire: calls multiplexed on
one connection, the peer's stream limit honoured, cancellation and deadlines as RST_STREAM,
GOAWAY and a lost connection as unavailable (and the next call on a new connection), and
answers a gRPC server should not send mapped as the transport maps statuses."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest
from google.protobuf.message import Message
from h2_peer import OK, H2Peer, PeerConnection, message
from library_server import ScriptedGrpc

from tailor.errors import UpstreamDecodeError, UpstreamTimeout, UpstreamUnavailable
from tailor.upstream.grpc.descriptors import Binding
from tailor.upstream.grpc.status import GrpcStatusError
from tailor.upstream.grpc.transport import GrpcTransport, GrpcUpstream
from tailor.upstream.transport import UpstreamRequest

CANCEL = 8


class BookCard(msgspec.Struct):
    id: str
    title: str


def get_book(port: int, book_id: str = "b1", timeout_s: float = 2.0) -> UpstreamRequest:
    url = f"grpc://127.0.0.1:{port}/books/{book_id}"
    return UpstreamRequest(
        "library", "GET", url, [("x-request-id", "r1")], timeout_s, into=BookCard
    )


def dune(routes: list[Binding]) -> bytes:
    binding = next(b for b in routes if b.name == "GetBook")
    return bytes(binding.response(id="b1", title="Dune").SerializeToString())


# -- against a real gRPC server (grpcio) ---------------------------------------------------


async def test_calls_in_flight_together_are_streams_of_one_connection(
    library: ScriptedGrpc, transport: GrpcTransport
) -> None:
    peers: list[str] = []
    all_in = asyncio.Event()

    async def hold_until_all_arrive(request: Message, context: Any) -> Message:
        peers.append(context.peer())
        if len(peers) == 4:
            all_in.set()
        await asyncio.wait_for(all_in.wait(), 5)
        return library.message("GetBook", id=request.book_id, title="Dune")

    library.scripts["GetBook"] = hold_until_all_arrive
    answers = await asyncio.gather(
        *(transport.send(get_book(library.port, f"b{i}")) for i in range(4))
    )
    assert [a.value.id for a in answers] == ["b0", "b1", "b2", "b3"]
    assert len(set(peers)) == 1


@pytest.fixture
async def one_stream_library(routes: list[Binding]) -> AsyncIterator[ScriptedGrpc]:
    server = ScriptedGrpc(routes, options=[("grpc.max_concurrent_streams", 1)])
    await server.start()
    yield server
    await server.server.stop(0)


async def test_a_server_taking_one_stream_at_a_time_gets_every_call_in_turn(
    one_stream_library: ScriptedGrpc,
) -> None:
    library = one_stream_library
    active, most = 0, 0

    async def one_at_a_time(request: Message, context: Any) -> Message:
        nonlocal active, most
        active += 1
        most = max(most, active)
        await asyncio.sleep(0.02)  # room for a second stream to overlap, were it sent
        active -= 1
        return library.message("GetBook", id=request.book_id, title="Dune")

    library.scripts["GetBook"] = one_at_a_time
    transport = GrpcTransport({"library": library.upstream()})
    try:
        await transport.send(get_book(library.port))  # the server's SETTINGS are known
        answers = await asyncio.gather(
            *(transport.send(get_book(library.port, f"b{i}")) for i in range(3))
        )
    finally:
        await transport.aclose()
    assert [a.value.id for a in answers] == ["b0", "b1", "b2"]
    assert most == 1


async def test_a_cancelled_call_leaves_its_connection_serving_the_next(
    library: ScriptedGrpc, transport: GrpcTransport
) -> None:
    started = asyncio.Event()

    async def stall_then_answer(request: Message, context: Any) -> Message:
        if request.book_id == "slow":
            started.set()
            await asyncio.Event().wait()
        return library.message("GetBook", id=request.book_id, title="Dune")

    library.scripts["GetBook"] = stall_then_answer
    task = asyncio.ensure_future(transport.send(get_book(library.port, "slow")))
    await asyncio.wait_for(started.wait(), 5)
    task.cancel()
    await asyncio.wait_for(library.cancelled.wait(), 5)
    answer = await transport.send(get_book(library.port, "b2"))
    assert answer.value == BookCard("b2", "Dune")


# -- against a scripted HTTP/2 peer ---------------------------------------------------------


@pytest.fixture
async def client(peer: H2Peer, routes: list[Binding]) -> AsyncIterator[GrpcTransport]:
    base = f"grpc://127.0.0.1:{peer.port}"
    made = GrpcTransport({"library": GrpcUpstream("library", base, base[7:], routes)})
    yield made
    await made.aclose()


async def test_the_deadline_travels_as_grpc_timeout_and_headers_as_metadata(
    peer: H2Peer, client: GrpcTransport, routes: list[Binding]
) -> None:
    peer.script = lambda conn, stream_id: conn.answer(stream_id, message(dune(routes)), OK)
    await client.send(get_book(peer.port, timeout_s=1.5))
    _, _, headers = peer.requests[0]
    assert headers[b"grpc-timeout"] == b"1500m"
    assert headers[b":path"] == b"/library.v1.LibraryService/GetBook"
    assert headers[b"content-type"] == b"application/grpc"
    assert headers[b"te"] == b"trailers"
    assert headers[b"x-request-id"] == b"r1"


async def test_an_expired_deadline_resets_the_stream_with_cancel(
    peer: H2Peer, client: GrpcTransport
) -> None:
    with pytest.raises(UpstreamTimeout):
        await client.send(get_book(peer.port, timeout_s=0.1))
    conn = peer.connections[0]
    await peer.until(lambda: bool(conn.resets))
    assert conn.resets == [(1, CANCEL)]


async def test_a_goaway_fails_the_streams_it_did_not_take_and_the_next_call_reconnects(
    peer: H2Peer, client: GrpcTransport, routes: list[Binding]
) -> None:
    def goaway_on_the_second(conn: PeerConnection, stream_id: int) -> None:
        if len(peer.connections) > 1:
            conn.answer(stream_id, message(dune(routes)), OK)
        elif stream_id == 3:  # the first is taken, the second not
            conn.h2.send_goaway(0, last_stream_id=1)
            conn.answer(1, message(dune(routes)), OK)

    peer.script = goaway_on_the_second
    first = asyncio.ensure_future(client.send(get_book(peer.port)))
    await peer.until(lambda: len(peer.requests) == 1)
    with pytest.raises(UpstreamUnavailable, match="GOAWAY"):
        await client.send(get_book(peer.port))
    assert (await first).value == BookCard("b1", "Dune")
    assert (await client.send(get_book(peer.port))).value == BookCard("b1", "Dune")
    assert len(peer.connections) == 2


async def test_a_connection_lost_mid_call_fails_it_as_unavailable_and_the_next_reconnects(
    peer: H2Peer, client: GrpcTransport, routes: list[Binding]
) -> None:
    def drop_the_first(conn: PeerConnection, stream_id: int) -> None:
        if len(peer.connections) == 1:
            assert conn.transport is not None
            conn.transport.abort()
        else:
            conn.answer(stream_id, message(dune(routes)), OK)

    peer.script = drop_the_first
    with pytest.raises(UpstreamUnavailable, match="connection lost"):
        await client.send(get_book(peer.port))
    assert (await client.send(get_book(peer.port))).value == BookCard("b1", "Dune")


async def test_a_trailers_only_status_is_its_http_status_with_the_message(
    peer: H2Peer, client: GrpcTransport
) -> None:
    head = [
        (b":status", b"200"),
        (b"content-type", b"application/grpc"),
        (b"grpc-status", b"5"),
        (b"grpc-message", b"no book %27b1%27"),
    ]
    peer.script = lambda conn, stream_id: conn.answer(stream_id, None, None, head)
    answer = await client.send(get_book(peer.port))
    assert answer.status == 404
    assert isinstance(answer.error, GrpcStatusError)
    assert answer.error.message == "no book 'b1'"


async def test_a_status_gRPC_does_not_define_is_a_502(peer: H2Peer, client: GrpcTransport) -> None:
    trailers = [(b"grpc-status", b"42"), (b"grpc-message", b"odd")]
    peer.script = lambda conn, stream_id: conn.answer(stream_id, b"", trailers)
    answer = await client.send(get_book(peer.port))
    assert answer.status == 502
    assert isinstance(answer.error, GrpcStatusError) and answer.error.code == 42


async def test_a_truncated_length_prefixed_message_is_a_decode_error(
    peer: H2Peer, client: GrpcTransport, routes: list[Binding]
) -> None:
    peer.script = lambda conn, stream_id: conn.answer(stream_id, message(dune(routes))[:-3], OK)
    with pytest.raises(UpstreamDecodeError, match="length-prefixed"):
        await client.send(get_book(peer.port))


async def test_an_answer_without_a_grpc_status_is_a_decode_error(
    peer: H2Peer, client: GrpcTransport, routes: list[Binding]
) -> None:
    peer.script = lambda conn, stream_id: conn.answer(stream_id, message(dune(routes)), None)
    with pytest.raises(UpstreamDecodeError, match="grpc-status"):
        await client.send(get_book(peer.port))


async def test_a_proxy_s_503_without_a_grpc_status_is_unavailable(
    peer: H2Peer, client: GrpcTransport
) -> None:
    head = [(b":status", b"503"), (b"content-type", b"text/plain")]
    peer.script = lambda conn, stream_id: conn.answer(stream_id, b"overloaded", None, head)
    with pytest.raises(UpstreamUnavailable):
        await client.send(get_book(peer.port))
