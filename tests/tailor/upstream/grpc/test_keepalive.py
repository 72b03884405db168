"""Keepalive on tailor's HTTP/2 client for gRPC (tailor.upstream.grpc.h2), against a scripted
peer on loopback: a connection whose peer stops answering is closed after the interval and
the timeout and its waiting call fails as unavailable; a peer that answers keeps its
connection; an idle connection is pinged at most once per interval; a server's
"too_many_pings" GOAWAY doubles the interval. The intervals are a tenth of a second here."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable

import msgspec
import pytest
from h2_peer import OK, H2Peer, PeerConnection, message

from tailor.config import GrpcSettings
from tailor.errors import UpstreamUnavailable
from tailor.upstream.grpc.descriptors import Binding
from tailor.upstream.grpc.transport import GrpcTransport, GrpcUpstream
from tailor.upstream.transport import UpstreamRequest

INTERVAL_S = 0.1
TIMEOUT_S = 0.1
ENHANCE_YOUR_CALM = 11


class BookCard(msgspec.Struct):
    id: str
    title: str


@pytest.fixture
async def client(peer: H2Peer, routes: list[Binding]) -> AsyncIterator[GrpcTransport]:
    base = f"grpc://127.0.0.1:{peer.port}"
    settings = GrpcSettings(keepalive_interval_s=INTERVAL_S, keepalive_timeout_s=TIMEOUT_S)
    upstream = GrpcUpstream("library", base, base[7:], routes)
    made = GrpcTransport({"library": upstream}, settings=settings)
    yield made
    await made.aclose()


def get_book(peer: H2Peer, timeout_s: float = 10.0) -> UpstreamRequest:
    url = f"grpc://127.0.0.1:{peer.port}/books/b1"
    return UpstreamRequest("library", "GET", url, [], timeout_s, into=BookCard)


def answer_dune(routes: list[Binding]) -> Callable[[PeerConnection, int], None]:
    binding = next(b for b in routes if b.name == "GetBook")
    dune = bytes(binding.response(id="b1", title="Dune").SerializeToString())
    return lambda conn, stream_id: conn.answer(stream_id, message(dune), OK)


async def test_a_peer_gone_silent_is_closed_and_its_waiting_call_fails_as_unavailable(
    peer: H2Peer, client: GrpcTransport, routes: list[Binding]
) -> None:
    def fall_silent(conn: PeerConnection, stream_id: int) -> None:
        if len(peer.connections) == 1:
            conn.muted = True  # the call waits; nothing more arrives, PINGs go unanswered
        else:
            answer_dune(routes)(conn, stream_id)

    peer.script = fall_silent
    loop = asyncio.get_running_loop()
    started = loop.time()
    # Far within the call's own deadline (10 s): the keepalive found the peer gone.
    with pytest.raises(UpstreamUnavailable, match="keepalive PING"):
        await client.send(get_book(peer))
    # Nothing is closed before a whole interval of silence and the PING's timeout.
    assert loop.time() - started >= INTERVAL_S + TIMEOUT_S
    first = peer.connections[0]
    await peer.until(lambda: first.transport is None)
    assert (await client.send(get_book(peer))).value == BookCard("b1", "Dune")
    assert len(peer.connections) == 2


async def idle_after_a_call(
    peer: H2Peer, client: GrpcTransport, routes: list[Binding], pings: int
) -> PeerConnection:
    """The connection of one answered call, once it has had ``pings`` PINGs since."""
    peer.script = answer_dune(routes)
    await client.send(get_book(peer))
    conn = peer.connections[0]
    await peer.until(lambda: len(conn.pings) >= pings)
    return conn


async def test_a_peer_that_answers_pings_keeps_its_connection(
    peer: H2Peer, client: GrpcTransport, routes: list[Binding]
) -> None:
    conn = await idle_after_a_call(peer, client, routes, pings=3)
    assert (await client.send(get_book(peer))).value == BookCard("b1", "Dune")
    assert peer.connections == [conn] and conn.transport is not None


async def test_a_call_waiting_longer_than_the_interval_has_its_connection_pinged(
    peer: H2Peer, client: GrpcTransport, routes: list[Binding]
) -> None:
    waiting: list[tuple[PeerConnection, int]] = []
    peer.script = lambda conn, stream_id: waiting.append((conn, stream_id))
    answer = answer_dune(routes)

    def answer_the_waiting(conn: PeerConnection) -> None:
        while waiting:
            answer(*waiting.pop())

    peer.on_ping = answer_the_waiting
    assert (await client.send(get_book(peer))).value == BookCard("b1", "Dune")
    assert len(peer.connections[0].pings) == 1


async def test_an_idle_connection_is_pinged_at_most_once_per_interval(
    peer: H2Peer, client: GrpcTransport, routes: list[Binding]
) -> None:
    conn = await idle_after_a_call(peer, client, routes, pings=4)
    times = [conn.opened, *conn.pings]
    assert all(later - earlier >= INTERVAL_S for earlier, later in itertools.pairwise(times))


async def test_a_too_many_pings_goaway_closes_the_connection_and_doubles_the_interval(
    peer: H2Peer, client: GrpcTransport, routes: list[Binding]
) -> None:
    def calm_down(conn: PeerConnection) -> None:
        if len(peer.connections) == 1:
            conn.h2.send_goaway(ENHANCE_YOUR_CALM, debug_data=b"too_many_pings")
            conn.flush()

    peer.script = answer_dune(routes)
    peer.on_ping = calm_down
    await client.send(get_book(peer))
    first = peer.connections[0]
    await peer.until(lambda: first.transport is None)  # no call on it: closed at once
    await client.send(get_book(peer))
    second = peer.connections[1]
    await peer.until(lambda: len(second.pings) >= 1)
    # At the interval, the first PING comes at two (the handshake's frames count as heard at
    # the first look); at twice the interval, at four.
    assert second.pings[0] - second.opened >= 3.5 * INTERVAL_S
