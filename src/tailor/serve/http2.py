"""HTTP/2 on tailor's own server: each stream is one :class:`~tailor.http.Request` handed to the
same pipeline as an HTTP/1.1 request, answered on its stream.

The engine is libnghttp2 (the library behind curl's, nginx's and Apache's HTTP/2) through
``ngh2``, a sans-I/O binding: this module owns the socket and the event loop, nghttp2 the
framing, HPACK, flow control and the protocol's rules. It was chosen by measuring the CPU one
request costs the protocol layer (``python -m benchmarks.h2engines``, docs/http2.md): about
twenty-five times less than the pure-Python ``h2``.

How a connection becomes HTTP/2 (:func:`negotiating`): over TLS, ALPN (``h2`` offered before
``http/1.1``); in clear text, prior knowledge (RFC 9113 s3.3): a connection whose first bytes
are the HTTP/2 preface is HTTP/2, any other is HTTP/1.1, on the same port. The ``Upgrade: h2c``
dance is not offered (RFC 9113 drops it).

Edge defaults, as Envoy's guide for an edge proxy: 100 concurrent streams per connection, a
64 KiB window per stream and 1 MiB for the connection, a header list bounded by the server's
head limit (the same bound as an HTTP/1.1 head). Abuse ends the connection with GOAWAY and
the error code that says why, and the worker goes on serving its other connections:

- a malformed frame sequence: nghttp2's verdict (PROTOCOL_ERROR, FRAME_SIZE_ERROR,
  COMPRESSION_ERROR, FLOW_CONTROL_ERROR, ...); a malformed request is one stream's
  RST_STREAM, and never reaches the pipeline;
- rapid reset (CVE-2023-44487): a stream the client resets has its pipeline task cancelled
  (its inward calls with it), and resets past a rate (``RESET_RATE``) end the connection;
- CONTINUATION floods: at most ``MAX_CONTINUATIONS`` frames after a HEADERS, and the header
  list is bounded as it is decoded;
- SETTINGS and PING floods: the acknowledgements a client leaves unread are bounded
  (``MAX_OUTBOUND_ACK``), then ENHANCE_YOUR_CALM; other glitches (frames that do nothing) are
  rate-limited too (``GLITCH_RATE``);
- window starvation: a client that leaves answers blocked behind a closed window has
  ``server.keepalive_timeout_s`` to open it, as an HTTP/1.1 client that leaves its answers
  unread; then ENHANCE_YOUR_CALM.

Per stream the limits are HTTP/1.1's, because they are the pipeline's (header and body size,
the body's deadline, shedding). A request body arrives with back-pressure: the stream's window
is reopened only as the pipeline reads it. On shutdown (:meth:`Http2Connection.shut`) a
GOAWAY names the last stream taken; those streams are answered within the grace period, then
the connection closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import inspect
import logging
import re
import struct
from collections.abc import Awaitable
from typing import cast

import ngh2

from tailor.http import Request, Response
from tailor.problem import problem_response
from tailor.serve.http1 import (
    _NEVER,
    _NO_BODY_STATUSES,
    Http1Server,
    _Body,
    _Connection,
    _date,
    _decoded_path,
    _problem,
    _Refused,
)

log = logging.getLogger("tailor.serve")

#: The client's connection preface (RFC 9113 s3.4): how h2c with prior knowledge is told apart.
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#: Envoy's edge defaults (https://www.envoyproxy.io/docs/envoy/latest/configuration/best_practices/edge).
MAX_CONCURRENT_STREAMS = 100
STREAM_WINDOW = 64 * 1024
CONNECTION_WINDOW = 1024 * 1024
#: CONTINUATION frames after one HEADERS: a header list this server accepts fits in far fewer.
MAX_CONTINUATIONS = 8
#: SETTINGS and PING acknowledgements queued for a client that does not read them.
MAX_OUTBOUND_ACK = 1000
#: Token buckets (burst, per second): stream resets received, and frames that do nothing.
RESET_RATE = (1000, 33)
GLITCH_RATE = (10_000, 330)
#: Fields a response may not carry over HTTP/2 (RFC 9113 s8.2.2), and the server's own
#: content-length: dropped, not refused.
_FORBIDDEN = frozenset(
    {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"}
    | {"content-length"}
)
_STATUS: dict[int, tuple[bytes, bytes]] = {}
_RequestReceived = ngh2.RequestReceived
#: The events that end a stream the server may still be answering.
_StreamEnded = (ngh2.StreamClosed, ngh2.StreamReset)
_ENHANCE_YOUR_CALM = int(ngh2.ErrorCode.ENHANCE_YOUR_CALM)
_INTERNAL_ERROR = int(ngh2.ErrorCode.INTERNAL_ERROR)
#: A GOAWAY frame's 9-byte header (8 bytes of payload, type 7, stream 0).
_GOAWAY_HEAD = b"\x00\x00\x08\x07\x00\x00\x00\x00\x00"


def goaway_frame(last_stream_id: int, error_code: int) -> bytes:
    """A GOAWAY frame, written by hand for a connection whose engine has given up (and so can
    no longer frame one itself).

    >>> goaway_frame(3, 11).hex()
    '000008070000000000000000030000000b'
    """
    return _GOAWAY_HEAD + struct.pack(">II", last_stream_id, error_code)


def negotiating(server: Http1Server) -> asyncio.Protocol:
    """The protocol of a new connection on a server that offers HTTP/2."""
    return _Negotiating(server)


class _Negotiating(asyncio.Protocol):
    """A connection until it is known to be HTTP/2 or HTTP/1.1: ALPN decides over TLS, the
    first bytes in clear text. Until then it is an HTTP/1.1 connection (its deadlines, its
    place among the server's connections), and once decided it hands the transport over."""

    __slots__ = ("_http1", "_seen", "_server", "_transport")

    def __init__(self, server: Http1Server) -> None:
        self._server = server
        self._http1 = _Connection(server)
        self._seen = b""
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is not None and ssl_object.selected_alpn_protocol() == "h2":
            self._become(Http2Connection(self._server), b"")
        else:
            self._http1.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        seen = self._seen + data
        if len(seen) < len(PREFACE) and PREFACE.startswith(seen):
            self._seen = seen  # could still be the preface: wait for the rest
            return
        if seen.startswith(PREFACE):
            self._server.forget(self._http1)
            self._become(Http2Connection(self._server), seen)
        else:
            self._become(self._http1, seen)

    def _become(self, protocol: asyncio.Protocol, seen: bytes) -> None:
        transport = self._transport
        assert transport is not None
        transport.set_protocol(protocol)
        if protocol is not self._http1:
            protocol.connection_made(transport)
        if seen:
            protocol.data_received(seen)

    def connection_lost(self, exc: Exception | None) -> None:
        self._http1.connection_lost(exc)

    def pause_writing(self) -> None:
        self._http1.pause_writing()

    def resume_writing(self) -> None:
        self._http1.resume_writing()


def _engine(head_limit: int) -> ngh2.Connection:
    return ngh2.Connection(
        ngh2.Role.SERVER,
        ngh2.Configuration(
            # The stream's window reopens as the pipeline reads its body (back-pressure).
            auto_window_update=False,
            max_continuations=MAX_CONTINUATIONS,
            max_outbound_ack=MAX_OUTBOUND_ACK,
            stream_reset_rate_limit=RESET_RATE,
            glitch_rate_limit=GLITCH_RATE,
            max_inbound_header_list_size=head_limit,
        ),
    )


class _Stream:
    """One request in progress: its body as it arrives, and the task answering it."""

    __slots__ = ("_connection", "acknowledged", "body", "head_only", "id", "pending", "task")

    def __init__(self, connection: Http2Connection, stream_id: int, head_only: bool) -> None:
        self._connection = connection
        self.id = stream_id
        self.head_only = head_only
        self.body: _Body | None = None
        self.task: asyncio.Task[None] | None = None
        self.pending: Awaitable[Response] | None = None  # what the task awaits
        self.acknowledged = 0  # body bytes whose window was given back

    # What a _Body asks of its owner.
    def write_continue(self) -> None:
        pass  # HTTP/2 clients do not wait for 100 Continue here (RFC 9113 s8.5)

    def body_drained(self) -> None:
        body = self.body
        if body is not None:
            self._connection.reopen(self, body.received - body.size - self.acknowledged)


class Http2Connection(asyncio.Protocol):
    """One HTTP/2 client connection: streams in, each through the pipeline, answers out."""

    def __init__(self, server: Http1Server) -> None:
        self._server = server
        self._loop = server.loop
        self._handle = server.handle
        self._settings = server.settings
        self._h2 = _engine(server.settings.head_limit)
        self._streams: dict[int, _Stream] = {}
        self._transport: asyncio.Transport | None = None
        self._client = ""
        self._client_cert: bytes | None = None
        self._scheme = server.settings.scheme
        self._writing_paused = False
        self._blocked = False  # answers wait for the client (see _flush)
        self.closing = False
        self.deadline = _NEVER

    # -- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        self._client = peer[0] if isinstance(peer, tuple) else ""
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is not None:
            self._client_cert = ssl_object.getpeercert(binary_form=True) or None
        h2 = self._h2
        h2.initiate_connection(
            {
                ngh2.Setting.MAX_CONCURRENT_STREAMS: MAX_CONCURRENT_STREAMS,
                ngh2.Setting.INITIAL_WINDOW_SIZE: STREAM_WINDOW,
                ngh2.Setting.MAX_HEADER_LIST_SIZE: self._settings.head_limit,
                ngh2.Setting.ENABLE_PUSH: 0,
            }
        )
        h2.set_local_window_size(CONNECTION_WINDOW)
        self._server.connections.add(self)
        self._write()
        # Here to send requests: the first must come as soon as a head must over HTTP/1.1.
        self.deadline = self._loop.time() + self._settings.header_read_timeout_s

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self._server.forget(self)
        streams, self._streams = self._streams, {}
        for stream in streams.values():
            self._drop(stream)

    def data_received(self, data: bytes) -> None:
        h2 = self._h2
        try:
            h2.receive_data(data)
        except ngh2.NGH2Error as exc:
            # nghttp2 answers a protocol error with its own GOAWAY; past one of its limits
            # (CONTINUATION frames, header fields) it gives up on the connection instead.
            self._give_up(exc)
            return
        # isinstance, most frequent first (a GET is a request and a close): it narrows the
        # type for mypy as typing.cast would, without a Python call per event.
        for event in h2.events():
            if isinstance(event, _RequestReceived):
                self._request(event)
            elif isinstance(event, _StreamEnded):
                stream = self._streams.pop(event.stream_id, None)
                if stream is not None:
                    self._drop(stream)
            elif isinstance(event, ngh2.DataReceived):
                self._data(event)
            elif isinstance(event, ngh2.TrailersReceived):
                # The body ends here; trailers never reach the request (as over HTTP/1.1).
                self._data(ngh2.DataReceived(event.stream_id, b"", True))
        self._flush()

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        self._flush()

    # -- streams ---------------------------------------------------------------------------

    def _request(self, event: ngh2.RequestReceived) -> None:
        stream_id = event.stream_id
        fields = event.headers
        # nghttp2 checked the fields (no pseudo-header twice, none unknown or after a regular
        # one, none missing): the pseudo-headers are taken out by name.
        headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in fields}
        if len(headers) != len(fields):
            headers = _joined(fields)
        pop = headers.pop
        method, target = pop(":method", ""), pop(":path", "")  # CONNECT has no :path
        authority = pop(":authority", "")
        pop(":scheme", None)
        if authority and "host" not in headers:
            headers["host"] = authority
        path, _, query = target.partition("?")
        request = Request(method, path, query, headers, self._client, scheme=self._scheme)
        if self._client_cert is not None:
            request.client_cert = self._client_cert
        stream = None
        if not event.end_stream:
            stream = self._streams[stream_id] = _Stream(self, stream_id, method == "HEAD")
            body = stream.body = _Body(stream, False)
            request.read_body = body.read
            if "content-length" not in headers:
                # A body of unknown length, as HTTP/1.1 marks it: the limits stage bounds
                # such a body while reading it. (nghttp2 refuses the field from a client, so
                # this is never the client's; sanitize keeps it from going inward.)
                headers["transfer-encoding"] = "chunked"
        if "%" in path:
            try:
                request.path = _decoded_path(path.encode("latin-1"))
            except _Refused as refused:
                self._answered(stream_id, stream, _problem(request, refused.status, refused.detail))
                return
        # As tailor.serve.http1 does: the pipeline runs in a context of its own, and an answer
        # it has at once is sent in this turn of the loop, with no task.
        context = contextvars.copy_context()
        try:
            outcome = context.run(self._handle, request)
        except Exception:
            log.exception("unanswered error: %r", request)
            outcome = _problem(request, 500, "internal error")
        if isinstance(outcome, Response):
            self._answered(stream_id, stream, outcome, method == "HEAD")
            return
        if stream is None:
            stream = self._streams[stream_id] = _Stream(self, stream_id, method == "HEAD")
        stream.pending = outcome
        stream.task = self._loop.create_task(
            self._answer(stream, request, outcome), context=context
        )

    def _data(self, event: ngh2.DataReceived) -> None:
        stream = self._streams.get(event.stream_id)
        body = stream.body if stream is not None else None
        if body is None:
            # No one reads it (the stream was answered): its window goes back at once.
            self._acknowledge(len(event.data), event.stream_id)
            return
        if event.data:
            body.feed(event.data)
        if event.end_stream:
            body.finish()

    def reopen(self, stream: _Stream, amount: int) -> None:
        """The pipeline read ``amount`` more bytes of ``stream``'s body: let the client send
        as many more."""
        if amount > 0 and stream.id in self._streams:
            stream.acknowledged += amount
            self._acknowledge(amount, stream.id)
            self._flush()

    def _acknowledge(self, amount: int, stream_id: int) -> None:
        with contextlib.suppress(ngh2.NGH2Error):  # the stream or connection closed meanwhile
            self._h2.acknowledge_received_data(amount, stream_id)

    async def _answer(
        self, stream: _Stream, request: Request, pending: Awaitable[Response]
    ) -> None:
        try:
            response = await pending
        except asyncio.CancelledError:
            return  # the stream was reset or the connection lost: nobody to answer
        except Exception:
            log.exception("unanswered error: %r", request)
            response = _problem(request, 500, "internal error")
        stream.task = None
        self._send(stream, response)
        self._flush()

    def _send(self, stream: _Stream, response: Response) -> None:
        if self._streams.get(stream.id) is stream:  # else reset by the client meanwhile
            self._answered(stream.id, stream, response, stream.head_only)

    def _answered(
        self, stream_id: int, stream: _Stream | None, response: Response, head_only: bool = False
    ) -> None:
        """Send ``response`` on ``stream_id`` (``stream``: its state, when it has some)."""
        if stream is not None:
            del self._streams[stream_id]  # answered: what nghttp2 still sends is flow control's
        status = response.status
        try:
            fields = _fields(response)
        except ValueError as exc:
            log.error("refused to write an answer on stream %d: %s", stream_id, exc)
            response = problem_response(500, "internal error")
            status, fields = 500, _fields(response)
        payload = response.body
        empty = head_only or not payload or status in _NO_BODY_STATUSES
        h2 = self._h2
        try:
            h2.send_response(stream_id, fields, end_stream=empty)
            if not empty:
                h2.send_data(stream_id, payload, end_stream=True)
            body = stream.body if stream is not None else None
            if body is not None and not body.done:
                # Answered before its body had all arrived: what arrived unread, and what
                # still comes, goes back to the windows unread (see _data). Not a RST_STREAM:
                # nghttp2 would send it ahead of the answer and drop the answer.
                if body.size:
                    h2.acknowledge_received_data(body.size, stream_id)
                body.fail()
        except ngh2.NGH2Error as exc:  # the stream closed under it (a reset not yet read)
            log.debug("stream %d not answered: %r", stream_id, exc)

    def _drop(self, stream: _Stream) -> None:
        """A stream gone before its answer (reset, or the connection lost): the work for it
        stops, its inward calls with it."""
        if stream.task is not None:
            stream.task.cancel()
            stream.task = None
            pending = stream.pending
            if (
                inspect.iscoroutine(pending)
                and inspect.getcoroutinestate(pending) == "CORO_CREATED"
            ):
                pending.close()  # cancelled before the task began to await it
        if stream.body is not None and not stream.body.done:
            stream.body.fail()

    # -- writing and closing ---------------------------------------------------------------

    def _give_up(self, exc: Exception) -> None:
        """The engine is done with this connection: the client gets a GOAWAY saying why."""
        abuse = isinstance(exc, ngh2.DenialOfServiceError)
        if not abuse:
            log.error("HTTP/2 engine failed: %r", exc)
        code = _ENHANCE_YOUR_CALM if abuse else _INTERNAL_ERROR
        transport, self._transport = self._transport, None
        streams, self._streams = self._streams, {}
        for stream in streams.values():
            self._drop(stream)
        if transport is not None:
            last = max(streams, default=0)
            transport.write(goaway_frame(last, code))
            transport.close()

    def _write(self) -> bool:
        """Send what nghttp2 has for the client; False once the connection is over (a GOAWAY
        sent for a protocol error, a flood or shutdown, and nothing left to send)."""
        transport = self._transport
        if transport is None:
            return False
        h2 = self._h2
        try:
            if not self._writing_paused:
                data = h2.data_to_send()
                if data:
                    transport.write(data)
            over = not h2.want_read and not h2.want_write
        except ngh2.NGH2Error as exc:
            self._give_up(exc)
            return False
        if over:
            transport.close()
            return False
        return True

    def _flush(self) -> None:
        """Write, then set the connection's deadline: none while the pipeline answers (its
        own deadlines apply), ``keepalive_timeout_s`` while idle or while answers wait for a
        client that does not read them or does not open its window."""
        if not self._write():
            return
        if self._writing_paused or self._h2.queued_body_size():
            if not self._blocked:
                self._blocked = True
                self.deadline = self._loop.time() + self._settings.keepalive_timeout_s
            return
        self._blocked = False
        if self._streams:
            self.deadline = _NEVER
        elif self.closing:
            assert self._transport is not None  # _write saw it
            self._transport.close()
        else:
            self.deadline = self._loop.time() + self._settings.keepalive_timeout_s

    def expire(self) -> None:
        """The deadline passed: an idle connection gets a GOAWAY and is closed; one whose
        answers stayed blocked (unread, or behind a closed window) is ended with
        ENHANCE_YOUR_CALM."""
        transport = self._transport
        if transport is None:
            return
        if transport.is_closing():
            transport.abort()
            return
        with contextlib.suppress(ngh2.NGH2Error):  # already ending: closed all the same
            self._h2.terminate_connection(_ENHANCE_YOUR_CALM if self._blocked else 0)
            self._writing_paused = False  # the GOAWAY goes out if the socket takes it
            self._write()
        transport.close()

    def shut(self) -> None:
        """Server shutdown: GOAWAY naming the last stream taken; those are still answered, and
        the connection closes when they are."""
        self.closing = True
        if self._transport is None:
            return
        with contextlib.suppress(ngh2.NGH2Error):  # already ending: it closes on its own
            self._h2.send_goaway(0)
        self._flush()

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()


def _joined(fields: tuple[tuple[bytes, bytes], ...]) -> dict[str, str]:
    """Fields with a name given more than once, joined: cookie crumbs with "; " (RFC 9113
    s8.2.3), others with ", " (RFC 9110 s5.3)."""
    headers: dict[str, str] = {}
    for raw_name, raw_value in fields:
        name, value = raw_name.decode("latin-1"), raw_value.decode("latin-1")
        if name in headers:
            separator = "; " if name == "cookie" else ", "
            headers[name] = f"{headers[name]}{separator}{value}"
        else:
            headers[name] = value
    return headers


def _fields(response: Response) -> list[tuple[bytes, bytes]]:
    """The HTTP/2 header block of ``response``: its status, its fields (in lower case, without
    those HTTP/2 forbids), the server's ``content-length`` and ``date``. Each field is checked
    and encoded once (:class:`_Encoded`) and found again by its text on later answers: most
    repeat on every one (content-type, cache-control, vary, an etag)."""
    status = response.status
    head = _STATUS.get(status)
    if head is None:
        if not 200 <= status <= 999:
            raise ValueError(f"{status!r} cannot be a final status")
        head = _STATUS[status] = (b":status", str(status).encode())
    fields = [head]
    try:
        fields += map(_encoded, response.headers)  # in C: the table's misses go to __missing__
    except TypeError:  # a field that is not a tuple (unhashable): checked all the same
        fields = [head, *[_encoded((field[0], field[1])) for field in response.headers]]
    if _DROPPED in fields:
        fields = [field for field in fields if field]
    if status not in _NO_BODY_STATUSES:
        size = len(response.body)
        length = _LENGTHS.get(size)
        if length is None:
            if len(_LENGTHS) >= _ENCODED_LIMIT:
                _LENGTHS.clear()
            length = _LENGTHS[size] = (b"content-length", str(size).encode())
        fields.append(length)
    fields.append((b"date", _date.value()))
    return fields


class _Encoded(dict[tuple[str, str], tuple[bytes, bytes]]):
    """Response fields as HTTP/2 writes them, by the pipeline's (name, value); _DROPPED for
    those HTTP/2 forbids. A known field costs one lookup in C; one not seen yet is checked
    and encoded by ``__missing__``.

    A field is taken in on its second sight: the first time it goes out never indexed, so
    values that never repeat (a request id, a rate limit's remaining count) neither fill this
    table nor churn the connection's HPACK table, where they would push out the fields that
    repeat on every answer and have those sent whole again. Both tables are bounded: cleared
    when full."""

    __slots__ = ("_once",)

    def __init__(self) -> None:
        super().__init__()
        self._once: dict[tuple[str, str], tuple[bytes, bytes]] = {}

    def __missing__(self, field: tuple[str, str]) -> tuple[bytes, bytes]:
        """``field`` checked (no CR, LF or NUL; latin-1) and encoded, name in lower case, or
        _DROPPED; ValueError (UnicodeEncodeError is one) for a field that cannot be written.
        One Python call per field not yet remembered: the check is inline, and the
        never-indexed field is built with tuple.__new__ (its class's own __new__ is Python)."""
        once = self._once
        seen = once.pop(field, None)
        if seen is not None:  # its second sight: remembered, and indexed from now on
            encoded = (seen[0], seen[1]) if seen else _DROPPED
            if len(self) >= _ENCODED_LIMIT:
                self.clear()
            self[field] = encoded
            return encoded
        name, value = field
        # isprintable is a quick pass for the usual field (no control character at all); a
        # tab or a non-ASCII character is allowed, so only then is the exact check run.
        if not (name.isprintable() and value.isprintable()) and (_UNSAFE(name) or _UNSAFE(value)):
            raise ValueError("CR, LF or NUL in a response header")
        name = name.lower()
        if name in _FORBIDDEN:
            encoded = _DROPPED
        else:
            encoded = _new_tuple(_NeverIndexed, (name.encode("latin-1"), value.encode("latin-1")))
        if len(once) >= _ENCODED_LIMIT:
            once.clear()
        once[field] = encoded
        return encoded


_ENCODED = _Encoded()
_ENCODED_LIMIT = 4096
_encoded = _ENCODED.__getitem__
#: content-length fields by body size: a cached answer's size repeats.
_LENGTHS: dict[int, tuple[bytes, bytes]] = {}
_DROPPED: tuple[bytes, bytes] = cast("tuple[bytes, bytes]", ())
_UNSAFE = re.compile("[\r\n\0]").search
_NeverIndexed = ngh2.NeverIndexedHeader
_new_tuple = tuple.__new__
