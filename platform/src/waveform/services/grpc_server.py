"""gRPC over HTTP/2, served in the service's own event loop: the wire of a service's gRPC API.

It replaces grpcio's asyncio server, whose completion-queue threads cost each call CPU and
context switches beside the loop that answers it (docs/grpc.md has the figures). The engine
is libnghttp2 through ``ngh2`` (sans-I/O), as tailor's own HTTP/2 server and gRPC client
drive it; this module owns the socket and the calls. What it does on the wire:

- h2c with prior knowledge (the services are on a private network, as the insecure port
  grpcio opened was); ``POST /<package.Service>/<Method>``, ``content-type:
  application/grpc[+proto]``, else HTTP 415 (405 for another method), as grpc's servers do;
- length-prefixed messages, at most ``MAX_RECEIVE_BYTES`` each (grpc's default; more is
  RESOURCE_EXHAUSTED); no compression is negotiated (``grpc-accept-encoding: identity``):
  a ``grpc-encoding`` other than identity is UNIMPLEMENTED, a compressed message INTERNAL;
- ``grpc-timeout`` is the call's deadline: its handler sees the time left, and when it
  passes the handler's task is cancelled and the call ends DEADLINE_EXCEEDED;
- an answer is HEADERS, the message, then trailers (``grpc-status``, ``grpc-message``
  percent-encoded, ``grpc-status-details-bin``); a failure before any message is
  trailers-only; an unknown method is UNIMPLEMENTED;
- a call the client resets (RST_STREAM), or whose connection is lost, has its task
  cancelled: the work for it stops, as a closed connection stops a JSON route;
- limits: ``MAX_CONCURRENT_STREAMS`` per connection (nghttp2 refuses more), the header list
  bounded, windows given back as data arrives (a stream holds at most one message's worth
  unread), and a malformed frame sequence ends that connection with nghttp2's GOAWAY, the
  server going on with its others;
- :meth:`GrpcServer.stop`: no new connection, a GOAWAY on each naming the last call taken,
  those calls answered within the grace period, then the rest cancelled.

A method is a :class:`Method`: unary (the handler gets the request message's bytes and
returns the answer's), or streaming (the handler reads and writes messages through its
:class:`CallContext`: server streaming and bidirectional, as health's ``Watch`` and reflection).
A handler fails a call by raising :class:`GrpcError`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import NamedTuple, cast

import ngh2
from google.rpc import code_pb2

from tailor.serve.http2 import goaway_frame
from tailor.upstream.grpc.messages import frame, parse_grpc_timeout
from tailor.upstream.grpc.status import DETAILS_TRAILER, encode_message

log = logging.getLogger("waveform.services.grpc")

#: Streams per connection, as tailor's server and Envoy's edge defaults have it.
MAX_CONCURRENT_STREAMS = 100
#: Receive windows: a stream's, and the connection's (given back as data arrives).
STREAM_WINDOW = 1024 * 1024
CONNECTION_WINDOW = 16 * 1024 * 1024
#: The largest request message taken: grpc's default receive limit.
MAX_RECEIVE_BYTES = 4 * 1024 * 1024
#: The request's header list (its metadata): grpc's default hard limit is 16 KiB.
MAX_HEADER_LIST = 16 * 1024

OK = int(code_pb2.OK)
UNKNOWN = int(code_pb2.UNKNOWN)
INTERNAL = int(code_pb2.INTERNAL)
UNIMPLEMENTED = int(code_pb2.UNIMPLEMENTED)
UNAVAILABLE = int(code_pb2.UNAVAILABLE)
CANCELLED = int(code_pb2.CANCELLED)
DEADLINE_EXCEEDED = int(code_pb2.DEADLINE_EXCEEDED)
RESOURCE_EXHAUSTED = int(code_pb2.RESOURCE_EXHAUSTED)

Metadata = list[tuple[bytes, bytes]]

_HEAD = (
    (b":status", b"200"),
    (b"content-type", b"application/grpc"),
    (b"grpc-accept-encoding", b"identity"),
)
_OK_TRAILERS = ((b"grpc-status", b"0"),)
_DETAILS = DETAILS_TRAILER.encode()
_RequestReceived = ngh2.RequestReceived
_DataReceived = ngh2.DataReceived
_StreamEnded = (ngh2.StreamReset, ngh2.StreamClosed)
_INTERNAL_ERROR = int(ngh2.ErrorCode.INTERNAL_ERROR)
_ENHANCE_YOUR_CALM = int(ngh2.ErrorCode.ENHANCE_YOUR_CALM)


class GrpcError(Exception):
    """A call's failure: its gRPC ``code``, ``message`` and serialized ``google.rpc.Status``
    (``details``, sent as ``grpc-status-details-bin``) when it has one."""

    def __init__(self, code: int, message: str = "", details: bytes | None = None) -> None:
        super().__init__(code, message)
        self.code = code
        self.message = message
        self.details = details


class CallContext:
    """One call as its handler sees it: the request's metadata (its header fields but the
    pseudo-headers, as grpcio's ``invocation_metadata``), its deadline, and for a streaming
    method its messages in and out."""

    __slots__ = ("_connection", "_stream", "deadline", "metadata")

    def __init__(
        self, connection: _Connection, stream: _Stream, metadata: Metadata, deadline: float | None
    ) -> None:
        self._connection = connection
        self._stream = stream
        self.metadata = metadata
        self.deadline = deadline  # the loop's time; None: the call has none

    def time_remaining(self) -> float | None:
        """Seconds until the deadline (None without one)."""
        if self.deadline is None:
            return None
        return max(0.0, self.deadline - self._connection.loop.time())

    async def read(self) -> bytes | None:
        """The next request message; None once the client has sent them all."""
        stream = self._stream
        while not stream.messages:
            if stream.ended:
                return None
            stream.waiter = self._connection.loop.create_future()
            try:
                await stream.waiter
            finally:
                stream.waiter = None
        message = stream.messages.popleft()
        stream.unread -= len(message)
        return message

    def write(self, message: bytes) -> None:
        """Send one response message (the response's head first)."""
        self._connection.send_message(self._stream, message)


Unary = Callable[[bytes, CallContext], Awaitable[bytes]]
Streaming = Callable[[CallContext], Awaitable[None]]


class Method(NamedTuple):
    """How a method is answered: ``unary(request, call)`` returns the answer's bytes, or
    ``streaming(call)`` reads and writes its messages. ``lasting``: a call that may never
    end on its own (a health watch), cancelled at once on shutdown rather than awaited."""

    unary: Unary | None = None
    streaming: Streaming | None = None
    lasting: bool = False


class _Stream:
    """One call in progress: its request messages as they arrive, its task and deadline."""

    __slots__ = (
        "buffer",
        "call",
        "done",
        "ended",
        "id",
        "messages",
        "method",
        "responding",
        "task",
        "timer",
        "unread",
        "waiter",
    )

    def __init__(self, stream_id: int, method: Method) -> None:
        self.id = stream_id
        self.method = method
        self.call: CallContext | None = None
        self.buffer = bytearray()  # the start of a message not yet whole
        self.messages: deque[bytes] = deque()
        self.unread = 0  # bytes of messages its handler has not taken: at most one message's
        self.ended = False  # the client sent all its messages
        self.done = False  # its status is sent (or it was reset)
        self.responding = False  # the response's head is sent
        self.task: asyncio.Task[None] | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.waiter: asyncio.Future[None] | None = None


def _engine() -> ngh2.Connection:
    return ngh2.Connection(
        ngh2.Role.SERVER,
        ngh2.Configuration(
            # Windows go back as data arrives: a stream holds at most one message unread
            # (MAX_RECEIVE_BYTES), its excess refused rather than slowed.
            auto_window_update=True,
            max_inbound_header_list_size=MAX_HEADER_LIST,
        ),
    )


class _Connection(asyncio.Protocol):
    """One client connection: its calls in, each answered by its method's task."""

    def __init__(self, server: GrpcServer) -> None:
        self.server = server
        self.loop = server.loop
        self._methods = server.methods
        self._h2 = _engine()
        self.streams: dict[int, _Stream] = {}
        self.transport: asyncio.Transport | None = None
        self._writing_paused = False
        self._flush_pending = False
        self.closing = False
        self.closed: asyncio.Future[None] = server.loop.create_future()

    # -- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        h2 = self._h2
        h2.initiate_connection(
            {
                ngh2.Setting.MAX_CONCURRENT_STREAMS: MAX_CONCURRENT_STREAMS,
                ngh2.Setting.INITIAL_WINDOW_SIZE: STREAM_WINDOW,
                ngh2.Setting.MAX_HEADER_LIST_SIZE: MAX_HEADER_LIST,
                ngh2.Setting.ENABLE_PUSH: 0,
            }
        )
        h2.set_local_window_size(CONNECTION_WINDOW)
        self.server.connections.add(self)
        self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.server.connections.discard(self)
        streams, self.streams = self.streams, {}
        for stream in streams.values():
            self._drop(stream)
        if not self.closed.done():
            self.closed.set_result(None)

    def data_received(self, data: bytes) -> None:
        h2 = self._h2
        try:
            h2.receive_data(data)
        except ngh2.NGH2Error as exc:
            # nghttp2 answers a protocol error with its own GOAWAY; past one of its limits
            # it gives up on the connection instead (tailor.serve.http2 does the same).
            self._give_up(exc)
            return
        streams = self.streams
        for event in h2.events():
            if isinstance(event, _DataReceived):
                stream = streams.get(event.stream_id)
                if stream is not None:
                    self._data(stream, event.data, event.end_stream)
            elif isinstance(event, _RequestReceived):
                self._request(event)
            elif isinstance(event, ngh2.TrailersReceived):
                stream = streams.get(event.stream_id)
                if stream is not None:
                    self._data(stream, b"", True)
            elif isinstance(event, _StreamEnded):
                stream = streams.pop(event.stream_id, None)
                if stream is not None:  # reset (or closed) before its answer
                    self._drop(stream)
        self._flush()

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        self._flush()

    # -- calls in --------------------------------------------------------------------------

    def _request(self, event: ngh2.RequestReceived) -> None:
        stream_id = event.stream_id
        headers = event.headers
        fields = dict(headers)
        if fields.get(b":method") != b"POST":
            self._refuse(stream_id, b"405")
            return
        content_type = fields.get(b"content-type", b"")
        if content_type != b"application/grpc" and not content_type.startswith(
            (b"application/grpc+", b"application/grpc;")
        ):
            self._refuse(stream_id, b"415")
            return
        method = self._methods.get(fields.get(b":path", b""))
        stream = _Stream(stream_id, method or _UNKNOWN)
        if method is None:
            path = fields.get(b":path", b"").decode("latin-1")
            self._finish(stream, UNIMPLEMENTED, f"Method not found: {path}")
            return
        encoding = fields.get(b"grpc-encoding", b"identity")
        if encoding != b"identity":
            self._finish(stream, UNIMPLEMENTED, f"Compression {encoding.decode()!r} not supported")
            return
        deadline = None
        timeout = fields.get(b"grpc-timeout")
        if timeout is not None:
            seconds = parse_grpc_timeout(timeout)
            if seconds is not None:
                deadline = self.loop.time() + seconds
                stream.timer = self.loop.call_at(deadline, self._expire, stream)
        metadata = [field for field in headers if field[0][:1] != b":"]
        call = stream.call = CallContext(self, stream, metadata, deadline)
        self.streams[stream_id] = stream
        if method.streaming is not None:
            stream.task = self.loop.create_task(self._run(stream, method.streaming(call)))
        if event.end_stream:
            self._data(stream, b"", True)

    def _data(self, stream: _Stream, data: bytes, end: bool) -> None:
        if data:
            received: bytes | bytearray = data
            buffer = stream.buffer
            if buffer:  # a message begun: the rest joins it (in place, not copied again)
                buffer += data
                received = buffer
            try:
                self._messages(stream, received)
            except GrpcError as error:
                self._finish(stream, error.code, error.message)
                return
            if stream.method.unary is None:
                self._wake(stream)
        if not end:
            return
        stream.ended = True
        if stream.buffer:
            self._finish(stream, INTERNAL, "the request ends inside a message")
            return
        unary = stream.method.unary
        if unary is None:
            self._wake(stream)
            return
        messages = stream.messages
        if len(messages) != 1:
            self._finish(stream, INTERNAL, f"{len(messages)} request messages for a unary method")
            return
        call = stream.call
        assert call is not None
        stream.task = self.loop.create_task(self._run(stream, unary(messages.pop(), call)))

    @staticmethod
    def _messages(stream: _Stream, data: bytes | bytearray) -> None:
        """Take the whole messages out of ``data`` (the rest waits in the stream's buffer)."""
        at, size = 0, len(data)
        while size - at >= 5:
            if data[at]:
                raise GrpcError(INTERNAL, "a compressed message, and no compression negotiated")
            length = int.from_bytes(data[at + 1 : at + 5], "big")
            if length > MAX_RECEIVE_BYTES - stream.unread:
                raise GrpcError(
                    RESOURCE_EXHAUSTED,
                    f"Received message larger than max ({length} vs. {MAX_RECEIVE_BYTES})",
                )
            end = at + 5 + length
            if end > size:
                break
            stream.messages.append(bytes(data[at + 5 : end]))
            stream.unread += length  # a unary call's too: its messages wait for its end
            at = end
        if data is stream.buffer:
            del data[:at]
        elif at < size:
            stream.buffer = bytearray(data[at:])

    @staticmethod
    def _wake(stream: _Stream) -> None:
        waiter = stream.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- answering -------------------------------------------------------------------------

    async def _run(self, stream: _Stream, work: Awaitable[bytes | None]) -> None:
        """Answer ``stream`` with what its handler's ``work`` gives: a unary method's answer,
        a streaming method's end (its messages went out as it wrote them), or its error."""
        try:
            reply = await work
        except asyncio.CancelledError:
            return  # reset, lost or past its deadline: answered, or no one to answer
        except GrpcError as error:
            self._finish(stream, error.code, error.message, error.details)
        except Exception:
            log.exception("gRPC call on stream %d failed", stream.id)
            self._finish(stream, UNKNOWN, "Unexpected error")
        else:
            if reply is not None:
                self.send_message(stream, reply)
            self._finish(stream, OK)
        self._flush_soon()

    def send_message(self, stream: _Stream, message: bytes) -> None:
        if stream.done:
            return  # reset, or already ended
        h2 = self._h2
        try:
            if not stream.responding:
                stream.responding = True
                h2.send_response(stream.id, _HEAD)
            h2.send_data(stream.id, frame(message))
        except ngh2.NGH2Error as exc:  # the stream closed under it (a reset not yet read)
            log.debug("stream %d not answered: %r", stream.id, exc)
        if stream.method.unary is None:
            self._flush()

    def _finish(
        self, stream: _Stream, code: int, message: str = "", details: bytes | None = None
    ) -> None:
        """End ``stream`` with its status: trailers after its messages, or trailers-only."""
        if stream.done:
            return
        stream.done = True
        self.streams.pop(stream.id, None)
        if stream.timer is not None:
            stream.timer.cancel()
        task = stream.task
        if task is not None and task is not asyncio.current_task():
            task.cancel()  # ended for it (its deadline, a bad message): its work stops
        if code == OK:
            status: tuple[tuple[bytes, bytes], ...] = _OK_TRAILERS
        else:
            status = ((b"grpc-status", str(code).encode()),)
            if message:
                status += ((b"grpc-message", encode_message(message)),)
            if details:
                status += ((_DETAILS, base64.b64encode(details).rstrip(b"=")),)
        try:
            if stream.responding:
                self._h2.send_trailers(stream.id, status)
            else:
                self._h2.send_response(stream.id, _HEAD + status, end_stream=True)
        except ngh2.NGH2Error as exc:
            log.debug("stream %d not answered: %r", stream.id, exc)

    def _refuse(self, stream_id: int, status: bytes) -> None:
        """Not a gRPC request: an HTTP status, with the gRPC status a client would read."""
        fields = (
            (b":status", status),
            (b"content-type", b"application/grpc"),
            (b"grpc-status", str(INTERNAL).encode()),
            (b"grpc-message", b"not a gRPC request"),
        )
        with contextlib.suppress(ngh2.NGH2Error):
            self._h2.send_response(stream_id, fields, end_stream=True)

    def _expire(self, stream: _Stream) -> None:
        stream.timer = None
        self._finish(stream, DEADLINE_EXCEEDED, "Deadline Exceeded")
        self._flush()

    def _drop(self, stream: _Stream) -> None:
        """A call gone before its answer (reset, or the connection lost): its work stops."""
        stream.done = True
        if stream.timer is not None:
            stream.timer.cancel()
        if stream.task is not None:
            stream.task.cancel()
        stream.ended = True
        self._wake(stream)

    # -- writing and closing ---------------------------------------------------------------

    def _give_up(self, exc: Exception) -> None:
        """The engine is done with this connection: the client gets a GOAWAY saying why."""
        abuse = isinstance(exc, ngh2.DenialOfServiceError)
        if not abuse:
            log.warning("HTTP/2 engine failed: %r", exc)
        code = _ENHANCE_YOUR_CALM if abuse else _INTERNAL_ERROR
        transport = self.transport
        if transport is not None:
            last = max(self.streams, default=0)
            transport.write(goaway_frame(last, code))
            transport.close()

    def _flush_soon(self) -> None:
        """Flush once the loop has run what is ready: the answers of calls that end in the
        same turn go out in one write, so the client reads them in one wake-up."""
        if not self._flush_pending:
            self._flush_pending = True
            self.loop.call_soon(self._flush)

    def _flush(self) -> None:
        """Send what nghttp2 has for the client; close once the session is over (a GOAWAY for
        a protocol error) or, shutting down, once its calls are answered."""
        self._flush_pending = False
        transport = self.transport
        if transport is None:
            return
        h2 = self._h2
        try:
            if not self._writing_paused:
                data = h2.data_to_send()
                if data:
                    transport.write(data)
            over = not h2.want_read and not h2.want_write
        except ngh2.NGH2Error as exc:
            self._give_up(exc)
            return
        if over or (
            self.closing and not self.streams and not h2.want_write and not h2.queued_body_size()
        ):
            transport.close()

    def shut(self) -> None:
        """Shutdown: GOAWAY naming the last call taken; lasting calls end UNAVAILABLE."""
        self.closing = True
        with contextlib.suppress(ngh2.NGH2Error):  # already ending: it closes on its own
            self._h2.send_goaway(0)
        for stream in [s for s in self.streams.values() if s.method.lasting]:
            self._finish(stream, UNAVAILABLE, "the server is shutting down")
        self._flush()

    def abort(self) -> None:
        """Past the grace period: what is left is cancelled, the connection closed."""
        for stream in list(self.streams.values()):
            self._finish(stream, UNAVAILABLE, "the server is shutting down")
        self._flush()
        if self.transport is not None:
            self.transport.close()


_UNKNOWN = Method()


class GrpcServer:
    """gRPC on ``host``:``port``, each method (by its path, ``/package.Service/Method``)
    answered as ``methods`` says. ``on_stop`` runs first on :meth:`stop` (health's
    NOT_SERVING)."""

    def __init__(
        self,
        methods: Mapping[str, Method],
        on_stop: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.methods = {path.encode(): method for path, method in methods.items()}
        self.connections: set[_Connection] = set()
        self._on_stop = on_stop
        self._server: asyncio.Server | None = None
        self.loop = asyncio.get_running_loop()

    async def start(self, host: str, port: int) -> None:
        self._server = await self.loop.create_server(lambda: _Connection(self), host, port)

    @property
    def ports(self) -> Iterable[int]:
        server = self._server
        return [s.getsockname()[1] for s in server.sockets] if server is not None else []

    async def stop(self, grace: float | None) -> None:
        """No new connection; each gets a GOAWAY, its calls ``grace`` seconds to be answered
        (None: none), then what is left is cancelled and the connections closed."""
        if self._server is not None:
            self._server.close()
        if self._on_stop is not None:
            await self._on_stop()
        connections = list(self.connections)
        for connection in connections:
            connection.shut()
        pending = [c.closed for c in connections if not c.closed.done()]
        if pending and grace:
            await asyncio.wait(pending, timeout=grace)
        for connection in connections:
            if not connection.closed.done():
                connection.abort()
