"""The default transport: HTTP/1.1 keep-alive on the worker's own event loop.

Why not a library client: in a BFF fan-out the upstream client is most of the CPU
(docs/benchmarks.md, "Where the time goes"). pyreqwest runs hyper on a Tokio thread, so every
call crosses threads twice and that thread competes with the event loop for the worker's core;
aiohttp costs more per call. Here the socket, the parser (httptools, llhttp: the
parser uvicorn uses) and the pool all live on the loop that awaits the answer: one write, one
read callback, one future. Measured per call in the home fan-out and end to end in
``python -m benchmarks.run`` (docs/benchmarks.md); pyreqwest stays available
(``client.transport = "pyreqwest"``).

What it does, because a production edge needs it:

- a pool per origin, most recently used connection first, at most ``max_connections`` per
  origin (callers beyond that wait, inside their own timeout); idle connections are dropped
  after ``pool_idle_timeout_s`` or as soon as the service closes them;
- one timeout per call covering connect, queueing, send and the whole response; on expiry the
  connection is aborted (it cannot be reused with an answer still owed) and
  :class:`~tailor.errors.UpstreamTimeout` is raised;
- a cancelled call (a hedge's loser, an endpoint deadline) aborts its connection, so the
  service sees the client go away instead of working for nobody;
- an idempotent request (RFC 9110 9.2.2) that finds its reused connection closed before any
  byte of the answer arrived is sent once more on a new connection: services close idle
  keep-alive connections, and that race is not a failure of the service;
- the request line and headers are checked before they are written: CR, LF or NUL anywhere
  would let a value smuggle a second request inward, so such a request is refused; a target
  with spaces or non-ASCII characters is percent-encoded;
- a connection that receives bytes past a complete answer (a body longer than its
  Content-Length, a stray second response) is closed, never pooled: those bytes would
  otherwise be read as the next caller's answer;
- responses larger than ``max_response_bytes`` and malformed responses end the connection with
  :class:`~tailor.errors.UpstreamUnavailable`; TLS (``https://`` upstreams) verifies the
  service's certificate with the system's trust store or a given context.

It does not interpret statuses or bodies; the client above does.
"""

from __future__ import annotations

import asyncio
import math
import re
import ssl
from collections import deque
from collections.abc import Iterator, Mapping
from typing import cast
from urllib.parse import quote

import httptools

from tailor.errors import UpstreamError, UpstreamTimeout, UpstreamUnavailable
from tailor.upstream.transport import UpstreamRequest, UpstreamResponse, resendable

#: Statuses that never carry a body (RFC 9110 6.4.1).
_NO_BODY_STATUSES = frozenset({204, 304})
#: Anything outside visible ASCII in a request target is percent-encoded before sending.
_UNSAFE_TARGET = re.compile(r"[^\x21-\x7e]")
_TARGET_SAFE_CHARS = "/?&=%:@!$'()*+,;[]~-._"


class _StaleConnection(UpstreamUnavailable):
    """A reused connection closed before any byte of the answer: safe to resend if idempotent."""


class _Origin:
    """The pool for one scheme://host:port."""

    __slots__ = (
        "authority",
        "host",
        "host_field",
        "idle",
        "open",
        "port",
        "retired",
        "ssl",
        "waiters",
    )

    def __init__(self, host: str, port: int, ssl_context: ssl.SSLContext | None, authority: str):
        self.host = host
        self.port = port
        self.ssl = ssl_context
        self.authority = authority
        self.host_field = f"host: {authority}"
        self.idle: list[_Connection] = []
        self.open = 0  # connections open or being opened
        self.waiters: deque[asyncio.Future[_Connection | None]] = deque()
        self.retired = False  # the transport closed or moved to another loop


class _LazyHeaders(Mapping[str, str]):
    """An answer's headers, parsed from its raw head on first use; lower-case names, repeated
    headers joined with ", "."""

    __slots__ = ("_head", "_parsed")

    def __init__(self, head: bytes) -> None:
        self._head = head
        self._parsed: dict[str, str] | None = None

    def _items(self) -> dict[str, str]:
        parsed = self._parsed
        if parsed is None:
            parsed = self._parsed = {}
            for line in self._head.decode("latin-1").split("\r\n")[1:]:  # [0]: status line
                name, _, value = line.partition(":")
                key, text = name.strip().lower(), value.strip()
                previous = parsed.get(key)
                parsed[key] = text if previous is None else f"{previous}, {text}"
        return parsed

    def __getitem__(self, name: str) -> str:
        key = name.lower()
        if self._parsed is None:
            value = self._one(key)
            if value is not None:
                return value
        return self._items()[key]

    def _one(self, key: str) -> str | None:
        """The value of the header ``key`` (lower case) found in the raw head without parsing
        every line (a caller often reads one header, a content type); None when it is not
        there once exactly as ``key:``, which the whole parse then settles."""
        lowered = self._head.lower()
        needle = f"\r\n{key}:".encode("latin-1")
        at = lowered.find(needle)
        if at < 0 or lowered.find(needle, at + 1) >= 0:
            return None
        start = at + len(needle)
        end = lowered.find(b"\r\n", start)
        return self._head[start : end if end >= 0 else None].decode("latin-1").strip()

    def __iter__(self) -> Iterator[str]:
        return iter(self._items())

    def __len__(self) -> int:
        return len(self._items())

    def __repr__(self) -> str:
        return f"_LazyHeaders({self._items()!r})"


class _Connection(asyncio.Protocol):
    """One keep-alive connection; carries at most one request at a time."""

    def __init__(self, transport_owner: Http1Transport, origin: _Origin, upstream: str) -> None:
        self._owner = transport_owner
        self.origin = origin
        self._upstream = upstream
        self._parser = httptools.HttpResponseParser(self)
        self._transport: asyncio.Transport | None = None
        self.closed = False
        self._dead = False  # aborted: never handed back to the pool
        self.idle_since = 0.0
        self.reused = False
        # The call in flight. Only what the answer itself changes is reset per call: the
        # status and head are written before they are read, and _complete leaves the body
        # state empty for the next call.
        self._waiter: asyncio.Future[UpstreamResponse] | None = None
        self.deadline = 0.0
        self._head_only = False
        # Bytes of this answer until its head is complete, then None (the head is cut out
        # of them and the body is not kept twice); [] means nothing has arrived yet.
        self._seen: list[bytes] | None = None
        self._status = 0
        self._head = b""
        self._body: list[bytes] = []
        self._size = 0
        # Set when an answer completes keeping the connection: it goes back to the pool only
        # once the read that completed it is parsed to its end (see data_received).
        self._reusable = False

    # -- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        seen = self._seen
        if seen is not None:
            seen.append(data)
        if self._waiter is None:
            # Bytes nobody asked for: the connection is out of step with the service.
            self.abort()
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:
            self._fail(UpstreamUnavailable(self._upstream, "malformed response"))
        if self._reusable:
            # Pooled only now: bytes after a complete answer in the same read (a body longer
            # than its Content-Length, a stray second response) end it in on_message_begin or
            # as a parse error, instead of becoming the next caller's answer.
            self._reusable = False
            if not self._dead:
                self._owner._release(self)

    def eof_received(self) -> bool | None:
        return False  # close our side too; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        if self.closed:
            return
        self.closed = True
        self._owner._forget(self)
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        seen = self._seen
        if seen is None and self._close_delimited():
            # A response delimited by the end of the connection (no length, not chunked).
            self._complete()
            return
        if seen is not None and not seen and self.reused:  # not a byte of the answer came
            waiter.set_exception(_StaleConnection(self._upstream, "connection closed"))
        else:
            waiter.set_exception(UpstreamUnavailable(self._upstream, "connection closed"))
        self._waiter = None

    # -- httptools callbacks ----------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self._waiter is None:
            # An answer starts with no call in flight: the service sent more than it was
            # asked for. Raising stops the parser; data_received then ends the connection.
            raise httptools.HttpParserError("bytes past a complete response")

    # No on_header callback on purpose: a Python call per header line is a measurable part of
    # each call, and most callers never read the headers. The raw head is kept instead and
    # parsed on first use (_LazyHeaders).

    def on_headers_complete(self) -> None:
        status = self._status = self._parser.get_status_code()
        seen = self._seen
        assert seen is not None  # set by send; None only once a final head was read
        data = seen[0] if len(seen) == 1 else b"".join(seen)
        end = data.find(b"\r\n\r\n")
        if status < 200:
            # An interim answer (100 Continue, 103 Early Hints) has no body and the real one
            # follows: keep only the bytes after its head.
            self._seen = [data[end + 4 :]]
            return
        self._seen = None
        self._head = data[:end]
        if self._head_only:
            # The parser does not know the request was a HEAD and would wait for the body its
            # Content-Length announces: the answer is complete now, and the connection, its
            # parser mid-message, is not reused.
            self._dead = True
            self._complete()

    def on_body(self, body: bytes) -> None:
        if self._dead:
            return
        self._size += len(body)
        if self._size > self._owner.max_response_bytes:
            self._fail(UpstreamUnavailable(self._upstream, "response too large"))
            return
        self._body.append(body)

    # -- used by the transport --------------------------------------------------------------

    def send(
        self,
        payload: bytes,
        waiter: asyncio.Future[UpstreamResponse],
        head: bool,
        deadline: float,
    ) -> None:
        self._waiter = waiter
        self.deadline = deadline
        self._head_only = head
        self._seen = []
        assert self._transport is not None
        self._transport.write(payload)

    def abort(self) -> None:
        """End the connection now (a timeout, a cancellation, a protocol error)."""
        self._waiter = None
        self._dead = True
        if self._transport is not None:
            self._transport.abort()
        else:
            self.connection_lost(None)

    def close(self) -> None:
        if self._transport is not None and not self.closed:
            self._transport.close()

    def expire(self) -> None:
        """The call's timeout ran out with the answer still owed."""
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(UpstreamTimeout(self._upstream, "timed out"))
        self.abort()

    def _close_delimited(self) -> bool:
        """The answer's body runs until the service closes (no length, not chunked). Asked
        only when the connection ends mid-answer: an answer completed by the parser before
        that had a length, so the check is not paid on every call."""
        lowered = self._head.lower()
        return (
            b"\ncontent-length:" not in lowered
            and b"\ntransfer-encoding:" not in lowered
            and not self._head_only
            and self._status not in _NO_BODY_STATUSES
            and self._status >= 200
        )

    def _fail(self, error: UpstreamError) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)
        self.abort()

    def _complete(self) -> None:
        if self._status < 200:
            return  # an interim answer's end: the real one follows
        waiter = self._waiter
        self._waiter = None
        parts = self._body
        body = parts[0] if len(parts) == 1 else b"".join(parts)
        response = UpstreamResponse(self._status, _LazyHeaders(self._head), body)
        # An idle pooled connection keeps nothing of its last answer (hundreds may be pooled),
        # and the next answer starts from an empty body.
        self._body, self._size, self._head = [], 0, b""
        # A close-delimited answer completes only once the connection is closed.
        keep = not self.closed and not self._dead and self._parser.should_keep_alive()
        if waiter is not None and not waiter.done():
            waiter.set_result(response)
        if keep:
            self._reusable = True
        else:
            self.close()

    # The parser's end of an answer is its completion (one Python call per answer, not two).
    on_message_complete = _complete


class Http1Transport:
    """Pooled HTTP/1.1 keep-alive transport running on the caller's event loop.

    One transport serves one running event loop at a time (a worker has one); when a call
    comes from a new loop after the previous one stopped, the pool starts over on it.

    >>> async def service(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    ...     await reader.readuntil(b"\\r\\n\\r\\n")  # a service on loopback: one answer
    ...     writer.write(b"HTTP/1.1 200 OK\\r\\ncontent-length: 2\\r\\n\\r\\nok")
    ...     writer.close()
    >>> async def main() -> tuple[int, bytes]:
    ...     server = await asyncio.start_server(service, "127.0.0.1", 0)
    ...     url = "http://127.0.0.1:%d/users/u1" % server.sockets[0].getsockname()[1]
    ...     transport = Http1Transport(max_connections=256)
    ...     async with server:
    ...         response = await transport.send(UpstreamRequest("users", "GET", url, [], 2.0))
    ...         await transport.aclose()
    ...     return response.status, response.body
    >>> asyncio.run(main())
    (200, b'ok')
    """

    def __init__(
        self,
        *,
        max_connections: int = 512,
        connect_timeout_s: float = 1.0,
        pool_idle_timeout_s: float = 50.0,
        max_response_bytes: int = 16 * 1024 * 1024,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.max_connections = max_connections
        self.connect_timeout_s = connect_timeout_s
        self.pool_idle_timeout_s = pool_idle_timeout_s
        self.max_response_bytes = max_response_bytes
        self._ssl_context = ssl_context
        self._origins: dict[str, _Origin] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        # The answer each call in flight awaits, and the connection it was sent on.
        self._in_flight: dict[asyncio.Future[UpstreamResponse], _Connection] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = math.inf

    # -- the Transport protocol -------------------------------------------------------------

    async def send(self, request: UpstreamRequest) -> UpstreamResponse:
        loop = self._loop
        if loop is None or not loop.is_running():
            # Looked up only when the loop may have changed (a test, a restarted worker): on
            # Python 3.11 asyncio.get_running_loop() makes a getpid() system call each time,
            # a measurable share of a home at six calls per home (see docs/benchmarks.md).
            loop = asyncio.get_running_loop()
            if loop is not self._loop:
                self._adopt(loop)
        now = loop.time()
        deadline = now + request.timeout_s
        origin, payload = self._origin_and_payload(request)
        head_only = request.method == "HEAD"
        fresh = False
        while True:
            conn = None if fresh else self._idle_connection(origin, now)
            if conn is None:
                conn = await self._new_or_released(loop, origin, request.upstream, deadline)
            waiter: asyncio.Future[UpstreamResponse] = loop.create_future()
            conn.send(payload, waiter, head_only, deadline)
            self._in_flight[waiter] = conn
            if deadline < self._timer_at:
                self._arm_timer(deadline)
            try:
                return await waiter
            except _StaleConnection:
                if fresh or not resendable(request):
                    raise
                fresh = True  # sent once more, on a new connection
            except asyncio.CancelledError:
                # Nobody will read this answer: free the service and the connection.
                conn.abort()
                raise
            finally:
                self._in_flight.pop(waiter, None)  # gone if a new loop started meanwhile

    async def aclose(self) -> None:
        # Calls still in flight (a renewal at shutdown, say) keep their deadlines: the shared
        # timer stays armed for them and ends with the last.
        if not self._in_flight:
            if self._timer is not None:
                self._timer.cancel()
            self._timer, self._timer_at = None, math.inf
        self._retire_pools(close=True)

    # -- timeouts ---------------------------------------------------------------------------

    # One timer for all calls in flight, armed at the earliest deadline, instead of one per
    # call: arming and cancelling a timer per call is a measurable share of a home (see
    # docs/benchmarks.md). A call whose deadline is later than the armed one adds nothing; when
    # the timer fires it ends every call that is due (aborting its connection, as before) and
    # re-arms for the next deadline, so each call still ends at its own deadline.

    def _arm_timer(self, at: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        assert self._loop is not None  # set by the first send, before any call is in flight
        self._timer = self._loop.call_at(at, self._expire_due)
        self._timer_at = at

    def _expire_due(self) -> None:
        assert self._loop is not None
        due = max(self._timer_at, self._loop.time())
        self._timer, self._timer_at = None, math.inf
        following = math.inf
        for waiter, conn in list(self._in_flight.items()):
            if waiter.done():
                continue  # answered; its call has not resumed yet
            if conn.deadline <= due:
                conn.expire()
            elif conn.deadline < following:
                following = conn.deadline
        if following < math.inf:
            self._arm_timer(following)

    # -- connections for a call -------------------------------------------------------------

    def _idle_connection(self, origin: _Origin, now: float) -> _Connection | None:
        idle = origin.idle
        while idle:
            conn = idle.pop()
            if conn.closed:
                continue
            if now - conn.idle_since >= self.pool_idle_timeout_s:
                conn.close()
                continue
            conn.reused = True
            return conn
        return None

    async def _new_or_released(
        self,
        loop: asyncio.AbstractEventLoop,
        origin: _Origin,
        upstream: str,
        deadline: float,
    ) -> _Connection:
        while True:
            if origin.open < self.max_connections:
                return await self._connect(loop, origin, upstream, deadline)
            # At the cap: wait for a connection handed back, or for a slot to free up.
            slot: asyncio.Future[_Connection | None] = loop.create_future()
            origin.waiters.append(slot)
            try:
                async with asyncio.timeout_at(deadline):
                    conn = await slot
            except TimeoutError:
                raise UpstreamTimeout(upstream, "timed out waiting for a connection") from None
            except asyncio.CancelledError:
                handed = slot.result() if slot.done() and not slot.cancelled() else None
                if handed is not None:
                    self._release(handed)  # handed to us as we were cancelled: pass it on
                raise
            finally:
                if not slot.done():
                    slot.cancel()
            if conn is not None:
                # Just handed back after a complete answer, so live even for a resend.
                conn.reused = True
                return conn

    async def _connect(
        self, loop: asyncio.AbstractEventLoop, origin: _Origin, upstream: str, deadline: float
    ) -> _Connection:
        origin.open += 1
        conn = _Connection(self, origin, upstream)
        connect_deadline = min(deadline, loop.time() + self.connect_timeout_s)
        try:
            async with asyncio.timeout_at(connect_deadline):
                await loop.create_connection(
                    lambda: conn,
                    origin.host,
                    origin.port,
                    ssl=origin.ssl,
                    server_hostname=origin.host if origin.ssl is not None else None,
                )
        except BaseException as exc:
            conn.closed = True
            self._forget(conn)
            if isinstance(exc, TimeoutError):
                raise UpstreamTimeout(upstream, "connect timed out") from None
            if isinstance(exc, ssl.SSLError):
                raise UpstreamUnavailable(upstream, "TLS handshake failed") from None
            if isinstance(exc, OSError):
                raise UpstreamUnavailable(upstream, "connection failed") from None
            raise
        return conn

    # -- pool bookkeeping (called by connections) -------------------------------------------

    def _release(self, conn: _Connection) -> None:
        origin = conn.origin
        if origin.retired:
            conn.close()  # the pool was closed or replaced meanwhile
            return
        while origin.waiters:
            slot = origin.waiters.popleft()
            if not slot.done():
                slot.set_result(conn)
                return
        assert self._loop is not None  # set by the first send, before any connection exists
        conn.idle_since = self._loop.time()
        origin.idle.append(conn)

    def _forget(self, conn: _Connection) -> None:
        origin = conn.origin
        origin.open -= 1
        if conn in origin.idle:
            # Closed by the service while pooled: out of the pool now, or dead entries under
            # the live ones at the top of the stack would pile up for good.
            origin.idle.remove(conn)
        while origin.waiters:
            slot = origin.waiters.popleft()
            if not slot.done():
                slot.set_result(None)  # a slot is free: that caller may connect
                return

    # -- request building -------------------------------------------------------------------

    def _origin_and_payload(self, request: UpstreamRequest) -> tuple[_Origin, bytes]:
        """The pool ``request`` goes to, and the bytes to write there."""
        url = request.url
        start = url.find("//")
        cut = url.find("/", start + 2)
        if cut < 0:
            prefix, target = url, "/"
        else:
            prefix, target = url[:cut], url[cut:]
        origin = self._origins.get(prefix)
        if origin is None:
            origin = self._new_origin(prefix, request.upstream)
        if _UNSAFE_TARGET.search(target) is not None:
            target = quote(target.partition("#")[0], safe=_TARGET_SAFE_CHARS)
        lines = [
            f"{request.method} {target} HTTP/1.1",
            origin.host_field,
            *map(": ".join, request.headers),  # "name: value", joined in C
        ]
        body = request.body
        if body is not None:
            lines.append(f"content-length: {len(body)}")
        # No CR, LF or NUL anywhere in a line: one inside a name or a value would end the
        # header early and let the rest be read as a header or a request. Checked on the lines
        # run together, before the line breaks go in (three memchr scans; counting the breaks
        # of the finished head costs more: see docs/benchmarks.md).
        text = "".join(lines)
        if "\r" in text or "\n" in text or "\0" in text:
            raise UpstreamUnavailable(request.upstream, "refused: control character in request")
        lines.append("\r\n")  # with the join's last CRLF, the empty line that ends the head
        try:
            raw = "\r\n".join(lines).encode("latin-1")
        except UnicodeEncodeError:
            raise UpstreamUnavailable(request.upstream, "refused: non-latin-1 header") from None
        return origin, raw if body is None else raw + body

    def _new_origin(self, prefix: str, upstream: str) -> _Origin:
        scheme, _, authority = prefix.partition("://")
        if scheme not in ("http", "https") or not authority or "@" in authority:
            raise UpstreamUnavailable(upstream, "unsupported upstream address")
        host, _, port_text = authority.rpartition(":")
        if not host or not port_text.isdigit():
            host, port = authority, 443 if scheme == "https" else 80
        else:
            port = int(port_text)
        host = host.strip("[]")  # an IPv6 literal
        context = None
        if scheme == "https":
            context = self._ssl_context or ssl.create_default_context()
        origin = _Origin(host, port, context, authority)
        self._origins[prefix] = origin
        return origin

    def _adopt(self, loop: asyncio.AbstractEventLoop) -> None:
        # Connections belong to the loop that opened them; a new loop (a test, a restarted
        # worker) starts with an empty pool. The old loop has stopped: nothing to close on it.
        self._retire_pools(close=False)
        self._in_flight.clear()
        self._timer, self._timer_at = None, math.inf
        self._loop = loop

    def _retire_pools(self, *, close: bool) -> None:
        """Forget every pool; a connection still busy is closed when it is handed back."""
        for origin in self._origins.values():
            origin.retired = True
            if close:
                for conn in origin.idle:
                    conn.close()
                for waiter in origin.waiters:
                    if not waiter.done():
                        waiter.cancel()
            origin.idle.clear()
            origin.waiters.clear()
        self._origins.clear()
