"""gRPC's unary calls over HTTP/2 in the event loop: one connection per upstream, each call a
stream on it, framing by libnghttp2 (``ngh2``, the engine tailor's server uses, sans-I/O).

It replaces grpcio's asyncio client, whose completion-queue thread and hand-off to the loop
cost about three times a pooled HTTP/1.1 call (docs/grpc.md has the figures). What a call
does on the wire:

- ``grpc://``: h2c with prior knowledge (RFC 9113 s3.3), for upstreams on a private network;
  ``grpcs://``: TLS first (:mod:`tailor.upstream.grpc.tls`: the certificate and host name
  verified, ALPN ``h2`` required, a client certificate when configured);
- ``POST /<package.Service>/<Method>``, ``content-type: application/grpc``, ``te: trailers``,
  the deadline as ``grpc-timeout``, the BFF's headers as metadata, the request message as one
  length-prefixed message;
- the answer is what :class:`Answer` holds (the response's head, its trailers, its body):
  :mod:`tailor.upstream.grpc.transport` reads the status and the message out of it;
- the peer's ``MAX_CONCURRENT_STREAMS``: nghttp2 holds a request beyond it until a stream
  closes (its HEADERS queued, not refused);
- flow control: a stream's window is 1 MiB and the connection's 16 MiB, given back as data
  arrives (nghttp2's automatic WINDOW_UPDATE), so a home's answers never wait on it;
- GOAWAY: no new stream on that connection (the next call opens another); a stream the peer
  did not take (beyond the GOAWAY's last stream) fails as unavailable, which the resilient
  transport may retry, as a call on a connection lost midway;
- a call cancelled (its task, or its deadline) resets its stream with CANCEL, so the service
  sees the cancellation;
- keepalive: a connection nothing has arrived on for ``keepalive_s`` gets a PING, with or
  without calls on it; nothing back within ``keepalive_timeout_s`` (a peer gone, its host
  down, a half-open connection) closes it, its calls fail as unavailable and the next call
  opens another. One timer per channel does it; the read path only marks the connection
  heard. A GOAWAY ``ENHANCE_YOUR_CALM`` "too_many_pings" (a server's ping policy) is a GOAWAY
  as any other, and doubles the channel's interval (gRFC A8).

>>> channel = Channel("users", "127.0.0.1", 9102)  # made by the gRPC transport, per upstream
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import ssl
from collections.abc import Sequence

import ngh2

from tailor.errors import UpstreamDecodeError, UpstreamTimeout, UpstreamUnavailable
from tailor.upstream.grpc.tls import alpn_refusal, handshake_failure

#: A stream's receive window, and the connection's: a home's largest answer fits many times.
STREAM_WINDOW = 1024 * 1024
CONNECTION_WINDOW = 16 * 1024 * 1024
#: The largest answer body taken (grpcio's own default receive limit is 4 MiB).
MAX_ANSWER_BYTES = 16 * 1024 * 1024
CONNECT_TIMEOUT_S = 1.0

_CANCEL = int(ngh2.ErrorCode.CANCEL)
_ENHANCE_YOUR_CALM = int(ngh2.ErrorCode.ENHANCE_YOUR_CALM)
_ResponseReceived = ngh2.ResponseReceived
_DataReceived = ngh2.DataReceived
_TrailersReceived = ngh2.TrailersReceived
_StreamEnded = (ngh2.StreamReset, ngh2.StreamClosed)
_Header = tuple[bytes, bytes]


class Answer:
    """A stream's answer as it arrived: the response head's fields, the trailers' (empty for
    a trailers-only answer, whose status is in the head) and the body.

    >>> Answer([(b":status", b"200")], [(b"grpc-status", b"0")], b"").trailers
    [(b'grpc-status', b'0')]
    """

    __slots__ = ("body", "head", "trailers")

    def __init__(self, head: Sequence[_Header], trailers: Sequence[_Header], body: bytes) -> None:
        self.head = head
        self.trailers = trailers
        self.body = body


class _Stream:
    __slots__ = ("chunks", "head", "size", "waiter")

    def __init__(self, waiter: asyncio.Future[Answer]) -> None:
        self.waiter = waiter
        self.head: Sequence[_Header] = ()
        self.chunks: list[bytes] = []
        self.size = 0


class _Connection(asyncio.Protocol):
    """One HTTP/2 connection to an upstream and the calls in flight on it."""

    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self.upstream = channel.upstream
        self.h2 = ngh2.Connection(ngh2.Role.CLIENT, ngh2.Configuration(auto_window_update=True))
        self.streams: dict[int, _Stream] = {}
        self.transport: asyncio.Transport | None = None
        self.usable = True  # False after a GOAWAY or once lost: no new stream on it
        self.heard = False  # a frame arrived since the keepalive timer last looked
        self.pinged = False  # a keepalive PING is out, its answer (or any frame) awaited
        self.refused: str | None = None  # why the TLS peer cannot carry gRPC (its ALPN)

    # -- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.refused = alpn_refusal(transport.get_extra_info("ssl_object"))
        if self.refused is not None:
            transport.abort()  # type: ignore[attr-defined]
            return
        self.transport = transport  # type: ignore[assignment]
        h2 = self.h2
        h2.initiate_connection(
            {
                ngh2.Setting.ENABLE_PUSH: 0,
                ngh2.Setting.INITIAL_WINDOW_SIZE: STREAM_WINDOW,
            }
        )
        h2.set_local_window_size(CONNECTION_WINDOW)
        self.write()

    def data_received(self, data: bytes) -> None:
        self.heard = True
        h2 = self.h2
        try:
            h2.receive_data(data)
        except ngh2.NGH2Error as exc:
            self.abort(f"HTTP/2 protocol error: {exc}")
            return
        streams = self.streams
        # isinstance, most frequent first: a unary answer is a head, data and trailers.
        for event in h2.events():
            if isinstance(event, _DataReceived):
                stream = streams.get(event.stream_id)
                if stream is not None:
                    stream.chunks.append(event.data)
                    stream.size += len(event.data)
                    if stream.size > MAX_ANSWER_BYTES:
                        self._reset(event.stream_id)
                        self._end(
                            event.stream_id, UpstreamDecodeError(self.upstream, "answer too large")
                        )
            elif isinstance(event, _ResponseReceived):
                stream = streams.get(event.stream_id)
                if stream is not None:
                    stream.head = event.headers
                    if event.end_stream:  # trailers-only: the status is in the head
                        self._done(event.stream_id, stream, ())
            elif isinstance(event, _TrailersReceived):
                stream = streams.get(event.stream_id)
                if stream is not None:
                    self._done(event.stream_id, stream, event.headers)
            elif isinstance(event, _StreamEnded):
                stream = streams.get(event.stream_id)
                if stream is not None:
                    if event.error_code == 0 and stream.head:
                        self._done(event.stream_id, stream, ())  # no trailers: the reader says so
                    else:
                        code = _code_name(event.error_code)
                        self._end(
                            event.stream_id,
                            UpstreamUnavailable(self.upstream, f"stream reset ({code})"),
                        )
            elif isinstance(event, ngh2.GoAwayReceived):
                if event.error_code == _ENHANCE_YOUR_CALM and event.debug_data == b"too_many_pings":
                    self.channel.slow_keepalive()
                self._going_away(event.last_stream_id, event.error_code)
        self.write()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.fail_all("connection lost")

    # -- calls -----------------------------------------------------------------------------

    def start(self, headers: list[_Header], payload: bytes, waiter: asyncio.Future[Answer]) -> int:
        """Open a stream for one call; its answer comes to ``waiter``."""
        if self.transport is None:  # lost after the call chose it
            raise UpstreamUnavailable(self.upstream, "connection lost")
        h2 = self.h2
        stream_id = h2.send_request(headers)
        h2.send_data(stream_id, payload, end_stream=True)
        self.streams[stream_id] = _Stream(waiter)
        self.write()
        return stream_id

    def cancel(self, stream_id: int) -> None:
        """The caller no longer waits for ``stream_id``: reset it, so the service stops."""
        if self.streams.pop(stream_id, None) is not None:
            self._reset(stream_id)
            self.write()
            self._maybe_close()

    def _reset(self, stream_id: int) -> None:
        with contextlib.suppress(ngh2.NGH2Error):  # closed meanwhile: nothing to reset
            self.h2.reset_stream(stream_id, _CANCEL)

    def _done(self, stream_id: int, stream: _Stream, trailers: Sequence[_Header]) -> None:
        del self.streams[stream_id]
        if not stream.waiter.done():
            chunks = stream.chunks
            body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
            stream.waiter.set_result(Answer(stream.head, trailers, body))
        self._maybe_close()

    def _end(self, stream_id: int, error: Exception) -> None:
        stream = self.streams.pop(stream_id, None)
        if stream is not None and not stream.waiter.done():
            stream.waiter.set_exception(error)
        self._maybe_close()

    def _going_away(self, last_stream_id: int, error_code: int) -> None:
        self.usable = False
        self.channel.forget(self)
        reason = f"GOAWAY ({_code_name(error_code)})"
        for stream_id in [s for s in self.streams if s > last_stream_id]:
            self._end(stream_id, UpstreamUnavailable(self.upstream, f"{reason}: not taken"))
        self._maybe_close()

    def fail_all(self, reason: str) -> None:
        """The connection is over: every call on it fails as unavailable."""
        self.usable = False
        self.channel.forget(self)
        streams, self.streams = self.streams, {}
        for stream in streams.values():
            if not stream.waiter.done():
                stream.waiter.set_exception(UpstreamUnavailable(self.upstream, reason))

    def _maybe_close(self) -> None:
        if not self.usable and not self.streams and self.transport is not None:
            self.transport.close()

    def ping(self) -> None:
        """A keepalive PING; whatever arrives next (its ACK or any frame) says the peer is
        there."""
        self.heard, self.pinged = False, True
        with contextlib.suppress(ngh2.NGH2Error):  # the engine is closing: so is the socket
            self.h2.ping()
        self.write()

    def abort(self, reason: str) -> None:
        """The peer is gone: every call on it fails as unavailable, the socket is dropped."""
        self.fail_all(reason)
        if self.transport is not None:
            self.transport.abort()

    def write(self) -> None:
        transport = self.transport
        if transport is None:
            return
        data = self.h2.data_to_send()
        if data:
            transport.write(data)

    def close(self) -> None:
        """Shut down: GOAWAY, then the socket."""
        self.usable = False
        if self.transport is not None:
            with contextlib.suppress(ngh2.NGH2Error):
                self.h2.terminate_connection(0)
            self.write()
            self.transport.close()
        self.fail_all("transport closed")


class Channel:
    """The calls to one upstream (``host``:``port``): one HTTP/2 connection at a time, opened
    on first use and again after a GOAWAY or a loss. Belongs to the loop that opened it.

    With ``ssl_context`` (:func:`tailor.upstream.grpc.tls.client_context`'s) the connection is
    TLS to ``host``; with ``keepalive_s`` above 0 an idle connection is pinged (see the
    module's docstring)."""

    def __init__(
        self,
        upstream: str,
        host: str,
        port: int,
        *,
        ssl_context: ssl.SSLContext | None = None,
        keepalive_s: float = 0.0,
        keepalive_timeout_s: float = 10.0,
    ) -> None:
        self.upstream = upstream
        self.host = host
        self.port = port
        self.authority = f"{host}:{port}".encode()
        self.ssl = ssl_context
        self.scheme = b"http" if ssl_context is None else b"https"
        self.keepalive_s = keepalive_s
        self.keepalive_timeout_s = keepalive_timeout_s
        self._keepalive: asyncio.TimerHandle | None = None
        self._connection: _Connection | None = None
        self._connecting: asyncio.Future[_Connection] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._old: set[_Connection] = set()  # after a GOAWAY, until their streams end
        self._in_flight: dict[asyncio.Future[Answer], float] = {}  # each call's deadline
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = math.inf

    async def call(self, headers: list[_Header], payload: bytes, timeout_s: float) -> Answer:
        """One unary call: ``headers`` (the request's whole header block), ``payload`` (the
        length-prefixed message); the answer, or UpstreamUnavailable / UpstreamTimeout. A
        cancelled call resets its stream."""
        loop = self._loop
        if loop is None or not loop.is_running():
            loop = self._adopt()
        deadline = loop.time() + timeout_s
        conn = self._connection
        if conn is None or not conn.usable:
            conn = await self._connect(loop, deadline)
        waiter: asyncio.Future[Answer] = loop.create_future()
        try:
            stream_id = conn.start(headers, payload, waiter)
        except ngh2.NGH2Error as exc:  # no stream ids left, or the engine is closing
            conn.usable = False
            self.forget(conn)
            raise UpstreamUnavailable(self.upstream, f"cannot open a stream: {exc}") from None
        in_flight = self._in_flight
        in_flight[waiter] = deadline
        if deadline < self._timer_at:
            self._arm(loop, deadline)
        try:
            return await waiter
        except (asyncio.CancelledError, UpstreamTimeout):
            conn.cancel(stream_id)
            raise
        finally:
            del in_flight[waiter]

    # One timer for all calls in flight, armed at the earliest deadline, as the HTTP/1.1
    # transport has (tailor.upstream.http1_transport says why): a call adds a dict entry.

    def _arm(self, loop: asyncio.AbstractEventLoop, at: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = loop.call_at(at, self._expire_due, loop)
        self._timer_at = at

    def _expire_due(self, loop: asyncio.AbstractEventLoop) -> None:
        due = max(self._timer_at, loop.time())
        self._timer, self._timer_at = None, math.inf
        following = math.inf
        for waiter, deadline in self._in_flight.items():
            if waiter.done():
                continue
            if deadline <= due:
                waiter.set_exception(UpstreamTimeout(self.upstream, "deadline exceeded"))
            elif deadline < following:
                following = deadline
        if following < math.inf:
            self._arm(loop, following)

    def _adopt(self) -> asyncio.AbstractEventLoop:
        # Looked up only when the loop may have changed (tailor.upstream.http1_transport has why).
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._connection, self._connecting, self._old = None, None, set()
            self._in_flight, self._timer, self._timer_at = {}, None, math.inf
            self._keepalive = None
            self._loop = loop
        return loop

    async def _connect(self, loop: asyncio.AbstractEventLoop, deadline: float) -> _Connection:
        pending = self._connecting
        if pending is None:
            pending = self._connecting = loop.create_future()
            loop.create_task(
                self._open(loop, pending, min(deadline, loop.time() + CONNECT_TIMEOUT_S))
            )
        try:
            async with asyncio.timeout_at(deadline):
                return await asyncio.shield(pending)  # a caller gone leaves the others theirs
        except TimeoutError:
            raise UpstreamTimeout(self.upstream, "connect timed out") from None

    async def _open(
        self, loop: asyncio.AbstractEventLoop, pending: asyncio.Future[_Connection], deadline: float
    ) -> None:
        conn = _Connection(self)
        tls = self.ssl
        try:
            async with asyncio.timeout_at(deadline):
                await loop.create_connection(
                    lambda: conn,
                    self.host,
                    self.port,
                    ssl=tls,
                    server_hostname=None if tls is None else self.host,
                )
        except TimeoutError:
            pending.set_exception(UpstreamTimeout(self.upstream, "connect timed out"))
        except ssl.SSLError as exc:  # an OSError too: the certificate, the host name, an alert
            pending.set_exception(UpstreamUnavailable(self.upstream, handshake_failure(exc)))
        except OSError:
            pending.set_exception(UpstreamUnavailable(self.upstream, "connection failed"))
        else:
            if conn.refused is not None:
                pending.set_exception(UpstreamUnavailable(self.upstream, conn.refused))
            else:
                self._connection = conn
                self._watch(loop, conn)
                pending.set_result(conn)
        finally:
            self._connecting = None
            if pending.done() and not pending.cancelled():
                pending.exception()  # retrieved: nobody may be waiting for it any more

    # Keepalive: one timer per channel, on its current connection. It looks every
    # ``keepalive_s``: a connection heard from since the last look is left alone (an activity
    # flag, as grpc-go's keepalive had: the read path pays one attribute store, not a clock
    # read); one not heard from gets a PING and a look ``keepalive_timeout_s`` later, when
    # silence still closes it. So a PING goes out at most once per interval plus timeout, and
    # only after a whole interval without a frame.

    def _watch(self, loop: asyncio.AbstractEventLoop, conn: _Connection) -> None:
        if self._keepalive is not None:
            self._keepalive.cancel()
            self._keepalive = None
        if self.keepalive_s > 0:
            self._keepalive = loop.call_later(self.keepalive_s, self._keep_alive, loop, conn)

    def _keep_alive(self, loop: asyncio.AbstractEventLoop, conn: _Connection) -> None:
        self._keepalive = None
        if conn is not self._connection or conn.transport is None:
            return  # forgotten (a GOAWAY, lost, closed): its successor has its own timer
        if conn.heard:
            conn.heard = conn.pinged = False
            wait = self.keepalive_s
        elif conn.pinged:
            conn.abort(f"no answer to a keepalive PING within {self.keepalive_timeout_s:g}s")
            return
        else:
            conn.ping()
            wait = self.keepalive_timeout_s
        self._keepalive = loop.call_later(wait, self._keep_alive, loop, conn)

    def slow_keepalive(self) -> None:
        """The server found the PINGs too many (GOAWAY "too_many_pings"): twice the interval
        from now on, as gRFC A8 has a client do."""
        self.keepalive_s *= 2

    def forget(self, conn: _Connection) -> None:
        """``conn`` takes no new stream (GOAWAY, loss): the next call opens another."""
        if self._connection is conn:
            self._connection = None
            if conn.streams:
                self._old.add(conn)
        else:
            self._old.discard(conn)

    async def aclose(self) -> None:
        conns = [c for c in (self._connection, *self._old) if c is not None]
        self._connection, self._old = None, set()
        if not self._in_flight and self._timer is not None:
            self._timer.cancel()
            self._timer, self._timer_at = None, math.inf
        if self._keepalive is not None:
            self._keepalive.cancel()
            self._keepalive = None
        for conn in conns:
            conn.close()


def _code_name(code: int) -> str:
    try:
        return ngh2.ErrorCode(code).name
    except ValueError:
        return f"error {code}"
