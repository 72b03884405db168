"""A scripted HTTP/2 server on loopback (libnghttp2's server role), for the wire behaviour a
real gRPC server will not show on demand: a GOAWAY, a connection dropped mid-call, a
malformed or status-less answer, a host gone silent (``muted``: what arrives is dropped
unread, PINGs unanswered). Each request is handed to ``script``, which answers it with
the frames it likes through the connection it is given."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

import ngh2


class PeerConnection(asyncio.Protocol):
    """One client connection to the peer."""

    def __init__(self, peer: H2Peer) -> None:
        self.peer = peer
        self.h2 = ngh2.Connection(ngh2.Role.SERVER)
        self.transport: asyncio.Transport | None = None
        self.resets: list[tuple[int, int]] = []  # (stream, error code) the client reset
        self.pings: list[float] = []  # when each PING arrived (the loop's clock)
        self.opened = 0.0
        self.muted = False  # drop what arrives: a peer gone without a FIN

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.opened = asyncio.get_running_loop().time()
        self.peer.connections.append(self)
        self.h2.initiate_connection()
        self.flush()

    def data_received(self, data: bytes) -> None:
        if self.muted:
            return
        self.h2.receive_data(data)
        for event in self.h2.events():
            if isinstance(event, ngh2.PingReceived):  # acknowledged by nghttp2
                self.pings.append(asyncio.get_running_loop().time())
                self.peer.on_ping(self)
            elif isinstance(event, ngh2.RequestReceived):
                self.peer.requests.append((self, event.stream_id, dict(event.headers)))
            elif isinstance(event, ngh2.DataReceived) and event.end_stream:
                self.peer.script(self, event.stream_id)
            elif isinstance(event, ngh2.StreamReset):
                self.resets.append((event.stream_id, event.error_code))
                self.peer.changed.set()
        self.flush()
        self.peer.changed.set()

    def flush(self) -> None:
        if self.transport is not None:
            data = self.h2.data_to_send()
            if data:
                self.transport.write(data)

    def answer(
        self,
        stream_id: int,
        body: bytes | None,
        trailers: list[tuple[bytes, bytes]] | None,
        head: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        """A gRPC answer: ``head`` (200, application/grpc by default), the body, trailers
        (None: the body ends the stream; a trailers-only answer is ``head`` with no body and
        no trailers)."""
        head = head or [(b":status", b"200"), (b"content-type", b"application/grpc")]
        h2 = self.h2
        if body is None and trailers is None:
            h2.send_response(stream_id, head, end_stream=True)
        else:
            h2.send_response(stream_id, head)
            if body is not None:
                h2.send_data(stream_id, body, end_stream=trailers is None)
            if trailers is not None:
                h2.send_trailers(stream_id, trailers)
        self.flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.peer.changed.set()


@dataclass
class H2Peer:
    """The server: ``script(connection, stream_id)`` runs once a request has all arrived;
    ``requests`` holds (connection, stream, header fields) of each."""

    script: Callable[[PeerConnection, int], None]
    on_ping: Callable[[PeerConnection], None] = lambda conn: None
    connections: list[PeerConnection] = field(default_factory=list)
    requests: list[tuple[PeerConnection, int, dict[bytes, bytes]]] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    server: asyncio.Server | None = None
    port: int = 0

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(lambda: PeerConnection(self), "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def until(self, condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
        """Wait (bounded) until ``condition`` holds, checked as the peer sees frames."""
        async with asyncio.timeout(timeout_s):
            while not condition():
                self.changed.clear()
                await self.changed.wait()

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            for conn in self.connections:
                if conn.transport is not None:
                    conn.transport.abort()
            await self.server.wait_closed()


def message(payload: bytes) -> bytes:
    """``payload`` as one length-prefixed gRPC message."""
    return b"\x00" + len(payload).to_bytes(4, "big") + payload


OK = [(b"grpc-status", b"0")]
