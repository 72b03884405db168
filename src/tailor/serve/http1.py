"""tailor's own HTTP/1.1 server: an asyncio protocol (uvloop in the workers) around llhttp, the
parser Node.js uses, through ``httptools``.

Why not granian here: answering the same fixed bytes on one core with nothing else in between,
granian's RSGI interface managed about 37,700 requests a second on this project's benchmark
machine and this protocol about 105,000 (wrk -c32, docs/benchmarks.md). On a cache hit the
server was two thirds of tailor's cost, and there is little to it that a gateway needs: no
static files, and a WebSocket or event stream is a route taking the connection over
(:mod:`tailor.serve.handover`). HTTP/2 is :mod:`tailor.serve.http2`, on the same port
(``server.http2``). Granian stays available (``server.interface = "rsgi"`` or ``"asgi"``).

What the server does itself, because only it sees the bytes:

- Parsing is llhttp's strict mode: a request it cannot frame unambiguously (a conflicting
  ``content-length`` and ``transfer-encoding``, a bare LF, an invalid character) is answered
  400 and the connection is closed, so nothing can be smuggled past it.
- The request head (line and headers) is bounded while it arrives (431), and must arrive in
  time (``limits.header_read_timeout_s``, then 408): a client that dribbles its headers holds a
  connection for seconds, not forever. An idle kept-alive connection is closed after
  ``server.keepalive_timeout_s``. A field repeated in one head is joined into one value, each
  join counted toward the head's bound; a second ``host`` is refused (400). A head that
  arrives whole in one read is held to the same bound when it is complete.
- The request line and framing fields are held to RFC 9112, as nginx holds them: an HTTP/1.1
  request needs one valid ``host`` (400); a version other than 1.0 and 1.1 is 505; the
  asterisk-form target and userinfo in an absolute-form target are 400; a body is framed by
  ``content-length`` or by ``transfer-encoding: chunked`` alone (another coding: 501; the
  field in an HTTP/1.0 request: 400). Whitespace after a field value is not part of it.
- The body is handed over as it arrives, with back-pressure: reading from the socket pauses
  while a request's unread body or the queue of pipelined requests is full, and while the
  client is not reading its answers. The limits stage bounds the body's size and time. A
  chunked body's framing (sizes, extensions, trailers) may take as many bytes as its data
  plus a head's worth (400 past that); trailers never reach the request's headers.
- Answers go out in request order (pipelining). One read can hold thousands of small
  requests: past ``MAX_QUEUED`` waiting, the next is refused (503) and the connection closed
  after the answers before it. No answer is started while the client is not reading the ones
  before it, and a client that leaves its answers unread for ``server.keepalive_timeout_s``
  is disconnected, so an answer never waits in memory for a reader that does not come.
- ``content-length`` and ``date`` are the server's; a header value carrying CR or LF, or a
  status outside 200-999 (a 1xx would not end the exchange), is never written (500 instead).
- A path is percent-decoded for routing, except an encoded ``/`` (``%2F``), which is refused
  (400): a proxy in front that matches paths without decoding it would see one segment where
  the router sees two.
- A request answered before its body had all arrived closes its connection after the answer:
  the next request's start could not be found without reading the rest.
- A client that goes away mid-body makes the body's reader raise :class:`ClientDisconnected`
  instead of handing a truncated body to a handler.

Admission, before the pipeline sees anything (docs/resilience.md, "Admission before accept"):

- The server runs its own accept loop: each time the listening socket is readable it accepts
  every connection waiting, up to ``ACCEPT_BATCH``, rather than one per turn of the event loop
  (uvloop's, through libuv, takes one): under overload the kernel's accept queue is emptied
  each turn instead of growing to the backlog while clients wait in it unseen.
- A worker holds at most ``server.max_connections`` connections. One over the cap is answered
  ``503`` problem+json with ``Retry-After``, written straight to the new socket, and closed:
  no transport, no parser, no pipeline (over TLS, where an answer would need a handshake first,
  it is only closed). So is a new connection while ``ServerSettings.admitting`` says no (the
  shed stage, while the loop is overloaded and its cap full, the connections admitted and not
  yet read counted in it: ``Http1Server.pending``): its first request would be refused anyway,
  and a refusal at accept costs a fraction of one through a transport.

What it leaves to the pipeline: every size, time and content rule a BFF configures (limits,
sanitize, authentication and the rest), so each is written once for every server.
"""

from __future__ import annotations

import _socket
import asyncio
import contextvars
import logging
import math
import re
import socket
import ssl
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from email.utils import formatdate
from http import HTTPStatus
from typing import Any, Protocol, cast
from urllib.parse import unquote

import httptools

from tailor.config import TLS
from tailor.errors import ClientDisconnected
from tailor.http import Request, Response
from tailor.problem import problem_response
from tailor.serve.handover import Handover

log = logging.getLogger("tailor.serve")

#: The pipeline: a request's response, or an awaitable of it when it has to wait
#: (:meth:`tailor.app.BFF.respond`). A coroutine function is one too.
Handle = Callable[[Request], Response | Awaitable[Response]]

#: Pipelined requests parsed ahead of the one being answered, before reading pauses.
MAX_PIPELINED = 16
#: Requests one connection may have waiting, the one being answered included: reading pauses
#: only after a read, and a read of 256 KiB holds thousands of minimal requests.
MAX_QUEUED = 4 * MAX_PIPELINED
#: Bytes of a request's unread body buffered before reading pauses.
BODY_BUFFER_BYTES = 256 * 1024
#: How often idle and slow connections are looked for: deadlines are kept to about a second.
SWEEP_INTERVAL_S = 1.0
#: Connections accepted in one wake-up of the listening socket at most: enough to empty the
#: accept queue under overload, few enough that one wake-up cannot hold the loop for long.
ACCEPT_BATCH = 1024
#: After the process ran out of file descriptors, how long before accepting again: the
#: listening socket stays readable, and retrying at once would spin.
ACCEPT_RETRY_S = 0.1
#: The listening socket is woken once per turn of the loop, and an overloaded turn lasts tens
#: of milliseconds, all of it spent by new connections in the kernel's accept queue. While
#: connections arrive faster than one per turn (a wake-up found more than one), a request
#: starting this long after the last accept accepts first, in the middle of the turn.
ACCEPT_EVERY_S = 0.002

_NEVER = math.inf
# A refusal's send: non-blocking without switching the socket's mode, and held for the FIN.
_HELD = socket.MSG_DONTWAIT | getattr(socket, "MSG_MORE", 0)  # Linux; elsewhere sent at once
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
# 1xx are left out: only an interim answer (100 Continue, written by the server) may be one.
_STATUS_LINES = {int(s): f"HTTP/1.1 {int(s)} {s.phrase}\r\n" for s in HTTPStatus if s >= 200}
# Statuses that never carry a body or a content-length (RFC 9110 s8.6).
_NO_BODY_STATUSES = frozenset({204, 304, *range(100, 200)})


def _status_line(status: int) -> str:
    line = _STATUS_LINES.get(status)
    if line is None:
        # A 1xx would leave the client waiting for the real answer, and take the next one for
        # it; anything else is not a status.
        if not 200 <= status <= 999:
            raise ValueError(f"{status!r} cannot be a final status")
        line = _STATUS_LINES[status] = f"HTTP/1.1 {status} \r\n"
    return line


class _Date:
    """The ``date`` header line, formatted once a second rather than once per answer."""

    __slots__ = ("_line", "_second", "_value")

    def __init__(self) -> None:
        self._second = -1
        self._line = ""
        self._value = ("", b"")  # (the line, its value as bytes)

    def line(self) -> str:
        now = time.time()
        second = int(now)
        if second != self._second:
            self._second = second
            self._line = f"date: {formatdate(now, usegmt=True)}\r\n"
        return self._line

    def value(self) -> bytes:
        """The field's value alone, as bytes (HTTP/2's header block)."""
        line = self.line()
        if self._value[0] is not line:
            self._value = (line, line[6:-2].encode("latin-1"))
        return self._value[1]


_date = _Date()


class ServerSettings:
    """What the server enforces itself; the rest is the pipeline's (see the module doc)."""

    __slots__ = (
        "admitting",
        "backlog",
        "drain_idle_s",
        "head_limit",
        "header_read_timeout_s",
        "http2",
        "keepalive_timeout_s",
        "max_connections",
        "retry_after_s",
        "scheme",
        "shedding",
        "tls",
    )

    def __init__(
        self,
        *,
        head_limit: int = 64 * 1024,
        header_read_timeout_s: float = 5.0,
        keepalive_timeout_s: float = 60.0,
        tls: ssl.SSLContext | None = None,
        backlog: int = 4096,
        max_connections: int = 4096,
        retry_after_s: int = 1,
        http2: bool = False,
        admitting: Callable[[int], bool] | None = None,
        drain_idle_s: float = 0.0,
        shedding: Callable[[], bool] | None = None,
    ) -> None:
        #: Serve over TLS with this context; each request of a connection whose client showed a
        #: certificate (verified in the handshake) carries it, as DER, for the mTLS
        #: authenticator (``request.client_cert``).
        self.tls = tls
        self.head_limit = head_limit
        self.header_read_timeout_s = header_read_timeout_s
        self.keepalive_timeout_s = keepalive_timeout_s
        self.scheme = "https" if tls is not None else "http"
        #: The kernel's accept queue for a socket this server binds itself (``start`` with a
        #: host and port); a socket handed in keeps the backlog it was bound with.
        self.backlog = backlog
        #: Connections this server holds at most; one more is turned away (see the module doc).
        self.max_connections = max_connections
        #: The ``Retry-After`` of that refusal, in seconds.
        self.retry_after_s = retry_after_s
        #: Offer HTTP/2 too (:mod:`tailor.serve.http2`): ALPN over TLS, prior knowledge else.
        self.http2 = http2
        #: Asked as each connection is accepted, with how many admitted before it have not
        #: reached the pipeline yet (``Http1Server.pending``): False turns it away as over the
        #: cap (a BFF's :meth:`~tailor.app.BFF.admitting`).
        self.admitting = admitting
        #: Asked as each request begins on a connection already served, idle (no answer
        #: pending before it): True answers it 503 with ``Retry-After`` as its head ends, its
        #: fields never made into strings, with no request object and no pipeline (a BFF's
        #: :meth:`~tailor.app.BFF.shedding`).
        self.shedding = shedding
        #: On close, how long an idle connection stays open (0: closed at once); see
        #: :meth:`_Connection.shut`.
        self.drain_idle_s = drain_idle_s


class _Refused(Exception):
    """Raised inside a parser callback to stop parsing with this status (or with ``answer``,
    an answer's bytes made beforehand)."""

    def __init__(self, status: int, detail: str, answer: bytes | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.answer = answer


def _problem(request: Request, status: int, detail: str) -> Response:
    """The server's own answer to a request the pipeline took: it names the request's id when
    the pipeline got as far as giving it one (a refusal before the pipeline has none)."""
    rid = request.request_id
    headers = (("x-request-id", rid),) if rid else ()
    return problem_response(status, detail, headers=headers, request_id=rid)


def _decoded_path(raw_path: bytes) -> str:
    """A percent-encoded path, decoded; an encoded "/" is refused (see the module doc)."""
    if b"%2f" in raw_path.lower():
        raise _Refused(400, "an encoded / in the path")
    return unquote(raw_path.decode("utf-8", "surrogateescape"), errors="replace")


def _check_transfer_coding(coding: str, version: str) -> None:
    """Only ``chunked``, alone, frames a request body here. Another coding before it would
    be one the server does not undo (RFC 9112 s6.1: 501, as nginx answers); an HTTP/1.0
    request with the field cannot be framed safely (RFC 9112 s6.1: 400, then close)."""
    if version != "1.1":
        raise _Refused(400, "transfer-encoding in an HTTP/1.0 request")
    if coding.lower() != "chunked":
        raise _Refused(501, "a transfer coding other than chunked")


class _BodyOwner(Protocol):
    """What a body asks of the connection it arrives on (an HTTP/1.1 one, an HTTP/2 stream)."""

    def write_continue(self) -> None: ...

    def body_drained(self) -> None: ...


class _Body:
    """One request's body as it arrives, read once by the pipeline (``read()``)."""

    __slots__ = (
        "_chunks",
        "_connection",
        "_continue",
        "_waiter",
        "done",
        "failed",
        "received",
        "size",
        "wire",
    )

    def __init__(self, connection: _BodyOwner, expect_continue: bool) -> None:
        self._connection = connection
        self._continue = expect_continue
        self._chunks: deque[bytes] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self.size = 0  # buffered, not yet read
        self.received = 0  # data bytes, all told
        self.wire = 0  # bytes of the reads this body arrived in (see _Connection._count_framing)
        self.done = False
        self.failed = False

    def feed(self, chunk: bytes) -> None:
        self._chunks.append(chunk)
        size = len(chunk)
        self.size += size
        self.received += size
        self._wake()

    def finish(self) -> None:
        self.done = True
        self._wake()

    def fail(self) -> None:
        self.failed = True
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def read(self) -> AsyncIterator[bytes]:
        if self._continue:
            # The client waits for this before sending the body: only now is it wanted.
            self._continue = False
            self._connection.write_continue()
        while True:
            if self._chunks:
                chunk = self._chunks.popleft()
                self.size -= len(chunk)
                self._connection.body_drained()
                yield chunk
            elif self.done:
                return
            elif self.failed:
                raise ClientDisconnected("the client closed the connection mid-body")
            else:
                self._waiter = asyncio.get_running_loop().create_future()
                await self._waiter
                self._waiter = None


# A parsed request waiting for, or being given, its answer: (request, its body if it has one,
# whether the connection may stay open after it, whether it is a HEAD). A tuple: built in C,
# once per request.
_Exchange = tuple[Request, "_Body | None", bool, bool]

#: The fields that say a request has a body (lower-case, as a refused head's are looked at).
_BODY_FIELDS = frozenset({b"content-length", b"transfer-encoding"})
_METHODS = {m.encode(): m for m in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")}
#: A Host field: an RFC 3986 authority without userinfo (an IP literal or a registered name, and
#: an optional port). Anything else would reach routing, caching and logs as a host.
_HOST = re.compile(r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+,;=%]+)(?::[0-9]*)?")


class _LeanHead:
    """The parser a connection reads a request it refuses on arrival with (``_shed_lean``):
    llhttp's checks and framing as for any request, but no call back into Python per header
    field, for the URL or at the message's start (httptools installs those callbacks only for a
    protocol that has them). A refused request needs three facts from its head, taken as it
    ends, before llhttp clears the message's flags: whether the connection may stay open,
    whether it is a HEAD, and whether the message ended (no body follows)."""

    __slots__ = ("ended", "head_only", "keep_alive", "parser")

    def __init__(self) -> None:
        self.parser = httptools.HttpRequestParser(self)
        self.keep_alive = self.head_only = self.ended = False

    def on_headers_complete(self) -> None:
        parser = self.parser
        self.keep_alive = _refusal_keeps_alive(parser)
        self.head_only = parser.get_method() == b"HEAD"

    def on_message_complete(self) -> None:
        self.ended = True


def _refusal_keeps_alive(parser: httptools.HttpRequestParser) -> bool:
    """Whether the connection of a head refused on arrival may stay open for the next request,
    as its parser read the head (either parser: the connection's or ``_LeanHead``'s)."""
    return (
        parser.should_keep_alive()
        and not parser.should_upgrade()  # what follows its head may not be HTTP
        # An HTTP/1.0 keep-alive is closed after any answer (see on_headers_complete).
        and parser.get_http_version() == "1.1"
    )


class _Connection(asyncio.Protocol):
    """One client connection: parse, hand each request to the pipeline, answer in order."""

    def __init__(self, server: Http1Server) -> None:
        self._server = server
        self._loop = server.loop
        self._handle = server.handle
        self._settings = server.settings
        self._shedding = server.settings.shedding
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._client = ""
        self._client_cert: bytes | None = None
        # The request being parsed.
        self._url = b""
        self._headers: dict[str, str] = {}
        self._head_bytes = 0
        self._in_head = False
        self._message_ended = False  # a request ended in the read being parsed
        # The request being parsed is refused as its head ends (settings.shedding; None until
        # asked, by data_received for a read's first request or as the request begins), and
        # whether it has a body.
        self._shed_head: bool | None = None
        self._shed_body = False
        self._read_size = 0  # bytes in the read being parsed
        self._host: str | None = None  # the last Host found valid on this connection
        self._body: _Body | None = None
        # Requests parsed, in order; the first is the one being answered when _busy.
        self._queue: deque[_Exchange] = deque()
        self._busy = False
        self._ready: _Exchange | None = None  # parsed in this read, to start once it is parsed
        self._refusal: _Refused | None = None
        self._reading_paused = False
        self._writing_paused = False
        self.closing = False
        self.deadline = _NEVER
        # Made, and no request started yet: counted in the server's ``pending``.
        self.fresh = False

    # -- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but behave as one.
        self._transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        self._client = peer[0] if isinstance(peer, tuple) else ""
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is not None:  # the handshake is done: the certificate, if any, verified
            self._client_cert = ssl_object.getpeercert(binary_form=True) or None
        # A new connection gets the header deadline: it is here to send a request.
        self.deadline = self._loop.time() + self._settings.header_read_timeout_s
        self._server.connections.add(self)
        self.fresh = True
        self._server.unserved += 1
        if self._server.draining:  # accepted just before the listener closed
            self.shut()

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        # The parser holds this protocol's bound callbacks: dropping it breaks the cycle, so
        # the connection is freed by reference counting, not left to the collector.
        del self._parser
        self._server.forget(self)
        if self._body is not None:
            self._body.fail()
        for exchange in self._queue:
            body = exchange[1]
            if body is not None and not body.done:
                body.fail()
        self._queue.clear()

    def data_received(self, data: bytes) -> None:
        shedding = self._shedding
        if (
            shedding is not None
            and not self._in_head
            and self._body is None
            and self._nothing_before_next()
        ):
            # Between requests, nothing to answer before the next: it is asked about here,
            # once (on_message_begin takes the answer), and refused before parsing when the
            # read is its head alone (the usual kept-alive request).
            shed = shedding()
            if shed and data.endswith(b"\r\n\r\n") and data.find(b"\r\n\r\n") == len(data) - 4:
                self._shed_lean(data)
                return
            self._shed_head = shed
        self._parse(data)
        ready = self._ready
        if ready is not None:
            # Started once the whole read is parsed, not from inside the parser's callback: a
            # pipeline that answers at once must not close or write mid-parse.
            self._ready = None
            self._start(ready)

    def _parse(self, data: bytes) -> None:
        self._message_ended = False
        self._read_size = len(data)
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade as upgrade:
            # What follows is not HTTP/1.1: a route may take the connection over (a WebSocket,
            # tailor.serve.handover) with the bytes already sent after the head; otherwise the
            # request is answered as plain HTTP/1.1 and the connection closed.
            self._upgrade_tail = data[upgrade.args[0] :]
            self._stop_reading()
            self.closing = True
        except httptools.HttpParserError as exc:
            refused = exc.__context__ if isinstance(exc.__context__, _Refused) else None
            self._refuse(refused or _Refused(400, "malformed request"))
            return
        except _Refused as exc:
            self._refuse(exc)
            return
        if self._in_head and not self._message_ended:
            # httptools buffers a header until it is complete; bound what it may hold. A head
            # that began after another request in this same read is counted from the next read
            # on: how much of this one is its own is not known (the rest of one read at most),
            # and counting all of it would refuse a pipelined request for the body before it.
            self._head_bytes += len(data)
            if self._head_bytes > self._settings.head_limit:
                self._refuse(_Refused(431, "request headers too large"))
        elif self._body is not None and not self._message_ended:
            self._count_framing(len(data))

    def pause_writing(self) -> None:
        self._writing_paused = True
        # The client is not reading its answers: it has as long as an idle client to start.
        self.deadline = min(self.deadline, self._loop.time() + self._settings.keepalive_timeout_s)
        self._update_reading()

    def resume_writing(self) -> None:
        self._writing_paused = False
        if self._queue and not self._busy:
            self._start(self._queue[0])  # held back while the client was not reading
        self._update_reading()

    # -- httptools callbacks ---------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._url = b""
        self._headers = {}
        self._head_bytes = 0
        self._in_head = True
        self.deadline = self._loop.time() + self._settings.header_read_timeout_s
        if self._shed_head is None:  # not asked in data_received (see there)
            shedding = self._shedding
            # Asked as the request begins, so that a refused head is never made into strings.
            self._shed_head = shedding is not None and self._nothing_before_next() and shedding()
        self._shed_body = False

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._shed_head:  # to be refused: all that matters is whether a body follows
            self._shed_body = self._shed_body or name.lower() in _BODY_FIELDS
            return
        key = name.decode("latin-1").lower()
        # llhttp drops the whitespace before a value, not after it (RFC 9110 s5.5: neither
        # is part of the value).
        text = value.decode("latin-1").rstrip(" \t")
        headers = self._headers
        if key in headers:
            self._repeated(key, text)
        else:
            headers[key] = text

    def _repeated(self, key: str, text: str) -> None:
        """A repeated field: every value, in order (RFC 9110 s5.3), joined with commas. Each
        join copies the value so far, and counts toward the head's bound: a field repeated
        thousands of times in one read would otherwise cost time quadratic in its count."""
        if key == "host":
            raise _Refused(400, "more than one host")  # RFC 9112 s3.2
        joined = self._headers[key] = f"{self._headers[key]}, {text}"
        self._head_bytes += len(joined)
        if self._head_bytes > self._settings.head_limit:
            raise _Refused(431, "request headers too large")

    def on_headers_complete(self) -> None:
        self._in_head = False
        self.deadline = _NEVER  # in the pipeline's hands now: its own deadlines apply
        shed, self._shed_head = self._shed_head, None  # the next request is asked anew
        if shed:
            self._shed()
            return
        parser = self._parser
        url = self._url
        headers = self._headers
        # llhttp takes 0.9, 1.0, 1.1 and 2.0, and only 1.1 is kept alive without a connection
        # field: the usual request's version is known without asking (a string built per call).
        persistent = parser.should_keep_alive()
        if persistent and "connection" not in headers:
            version = "1.1"
        else:
            version = parser.get_http_version()
            if version != "1.1" and version != "1.0":
                raise _Refused(505, f"HTTP/{version} is not supported")
        host = headers.get("host")
        if host is None or host != self._host:  # a kept-alive client repeats its Host
            self._check_host(host, version)
        if self._read_size > self._settings.head_limit:
            # A head that arrived whole in one read was not counted while it arrived.
            self._check_head_size(url, headers)
        if url[:1] == b"/":
            raw_path, _, raw_query = url.partition(b"?")
        else:  # absolute-form (a proxy's request) or "*"
            if url == b"*":
                raise _Refused(400, "the asterisk-form target is not served")
            try:
                parsed = httptools.parse_url(url)
            except httptools.HttpParserInvalidURLError:
                raise _Refused(400, "malformed request target") from None
            if parsed.userinfo:
                raise _Refused(400, "userinfo in the request target")  # RFC 9110 s4.2.4
            raw_path, raw_query = parsed.path or b"/", parsed.query or b""
        path = raw_path.decode("latin-1")
        if "%" in path:
            path = _decoded_path(raw_path)
        raw_method = parser.get_method()
        method = _METHODS.get(raw_method) or raw_method.decode("latin-1")
        body = None
        if "content-length" in headers or "transfer-encoding" in headers:
            coding = headers.get("transfer-encoding")
            if coding is not None:
                _check_transfer_coding(coding, version)
            expect = headers.get("expect", "").lower() == "100-continue" and version == "1.1"
            body = self._body = _Body(self, expect)
            # A chunked body's trailers are parsed as header fields: they go here, unread, not
            # into this request's headers (the stages before the body saw those already).
            self._headers = {}
        request = Request(
            method,
            path,
            raw_query.decode("latin-1"),
            headers,
            self._client,
            scheme=self._settings.scheme,
        )
        if body is not None:
            request.read_body = body.read
        if self._client_cert is not None:
            request.client_cert = self._client_cert
        keep_alive = persistent and not self.closing
        if keep_alive and "connection" in headers and version != "1.1":
            # An HTTP/1.0 keep-alive would need "connection: keep-alive" on every answer;
            # such clients are rare at an edge, so their connection closes after each answer.
            keep_alive = False
        exchange = (request, body, keep_alive, method == "HEAD")
        queue = self._queue
        queue.append(exchange)
        if not self._busy:
            self._busy = True  # taken: data_received starts it once this read is parsed
            self._ready = exchange
        elif len(queue) > MAX_PIPELINED:
            if len(queue) > MAX_QUEUED:
                queue.pop()
                raise _Refused(503, "too many pipelined requests")
            self._update_reading()

    def _shed(self) -> None:
        """The pipeline would refuse this request whatever it asks (``settings.shedding``, asked
        as it began: its fields were not made into strings), and nothing is being answered
        before it: its 503, made once a second, goes as its head ends, in one send. The
        connection stays open for the next request unless this one has a body (skipping it
        would mean reading it, while the core is overloaded: closed instead) or the client did
        not ask to keep it, or asked for an upgrade."""
        parser = self._parser
        keep_alive = not self._shed_body and _refusal_keeps_alive(parser)
        refused = self._answer_shed(keep_alive, parser.get_method() == b"HEAD")
        if refused is not None:
            # Raised out of the parser: nothing after this head is parsed (its body, the next
            # requests); _refuse writes the answer and closes.
            raise refused

    def _shed_lean(self, data: bytes) -> None:
        """Refuse the request whose head is all of ``data``, as ``_shed`` does, with the
        connection's lean parser (``_LeanHead``): under overload most kept-alive requests are
        refused, and the full parser's callbacks (one per header field) were most of what such
        a refusal cost. Both parsers stand between two requests after a head that ended its
        request; one that did not (a body follows, an upgrade, a malformed head) closes the
        connection, so the full parser never has to pick up where the lean one stopped. The
        lean parser is the server's, lent to one refusal at a time: given back only when it is
        left between two requests."""
        server = self._server
        lean, server.lean = server.lean or _LeanHead(), None
        lean.keep_alive = lean.ended = False
        try:
            lean.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            pass  # not kept alive (on_headers_complete): closed below
        except httptools.HttpParserError:
            del lean.parser  # its callbacks are its own: the cycle goes with it
            self._refuse(_Refused(400, "malformed request"))
            return
        keep_alive = lean.ended and lean.keep_alive
        if keep_alive:
            server.lean = lean
        else:
            del lean.parser
        refused = self._answer_shed(keep_alive, lean.head_only)
        if refused is not None:
            self._refuse(refused)

    def _nothing_before_next(self) -> bool:
        """Whether the request about to begin has nothing to be answered before it, so that it
        may be refused on arrival while shedding; a connection's first request was admitted
        at accept, and is served."""
        return not self._busy and not self.fresh and not self._queue

    def _answer_shed(self, keep_alive: bool, head_only: bool) -> _Refused | None:
        """Count a request refused on arrival and answer it: its 503 (made once a second) is
        written here when the connection stays open, else returned for the caller to close
        the connection with."""
        server = self._server
        server.shed += 1
        keep_alive = keep_alive and not self.closing
        answer = server.refusal(server.overloaded, keep_alive, head_only)
        if not keep_alive:
            return _Refused(503, "over capacity", answer)
        assert self._transport is not None
        self._transport.write(answer)
        self.deadline = self._loop.time() + self._settings.keepalive_timeout_s
        return None

    def _check_host(self, host: str | None, version: str) -> None:
        """RFC 9112 s3.2: an HTTP/1.1 request has exactly one Host, and it is an authority
        (a second one is refused as it is parsed)."""
        if host is None:
            if version == "1.1":
                raise _Refused(400, "no host")
            return
        if _HOST.fullmatch(host) is None:
            raise _Refused(400, "an invalid host")
        self._host = host

    def _check_head_size(self, url: bytes, headers: dict[str, str]) -> None:
        size = len(url) + sum(len(name) + len(value) + 4 for name, value in headers.items())
        if size > self._settings.head_limit:
            raise _Refused(431, "request headers too large")

    def on_body(self, chunk: bytes) -> None:
        body = self._body
        if body is not None:
            body.feed(chunk)
            if body.size > BODY_BUFFER_BYTES:
                self._update_reading()

    def on_message_complete(self) -> None:
        self._message_ended = True
        if self._body is not None:
            self._body.finish()
            self._body = None

    # -- answering -------------------------------------------------------------------------

    def _start(self, exchange: _Exchange) -> None:
        self._busy = True
        server = self._server
        if server.accept_due < _NEVER and self._loop.time() >= server.accept_due:
            server.accept()
        if self.fresh:  # its first request: no longer waiting to be admitted
            self.fresh = False
            server.unserved -= 1
            exchange[0].first_on_connection = True
        # The pipeline runs now, as far as it can without waiting, in a context of its own: an
        # answer it has at once (a refusal, a cache hit) is written in this same turn of the
        # loop with no task; otherwise one task awaits the rest, in that same context. tailor
        # passes nothing this way, but a BFF's own stage or a library it uses may (a tracing
        # span, a logging context): what it sets must reach the rest of its request and never
        # leak into the connection's next request.
        context = contextvars.copy_context()
        try:
            outcome = context.run(self._handle, exchange[0])
        except Exception:
            log.exception("unanswered error: %r", exchange[0])  # the last guard, as below
            outcome = _problem(exchange[0], 500, "internal error")
        if isinstance(outcome, Response):
            self._send(exchange, outcome)
        else:
            # A wrapper coroutine, not a done-callback on the pipeline's own task: a callback
            # is one more turn of the loop per answer (docs/benchmarks.md).
            self._loop.create_task(self._answer(exchange, outcome), context=context)

    async def _answer(self, exchange: _Exchange, pending: Awaitable[Response]) -> None:
        try:
            response = await pending
        except asyncio.CancelledError:
            # No answer will come, and the ones after it cannot go before it: the client must
            # not wait for them.
            self.abort()
            raise
        except Exception:
            # The pipeline's error stage answers every failure it sees; this is a last guard
            # (a stage of the user's own raising outside it), never a stack trace to a client.
            log.exception("unanswered error: %r", exchange[0])
            response = _problem(exchange[0], 500, "internal error")
        self._send(exchange, response)

    def _send(self, exchange: _Exchange, response: Response) -> None:
        transport = self._transport
        if transport is None:
            return  # the client went away (its queue went with it); nowhere to answer
        self._queue.popleft()
        self._busy = False
        request, incoming, keep_alive, head_only = exchange
        refused = self._refusal
        if refused is not None and incoming is not None and incoming.failed:
            # The server refused this request's body mid-way: that is its answer, whatever the
            # pipeline made of a body that broke off.
            response = _problem(request, refused.status, refused.detail)
        if not response.body and type(response) is Handover:
            self._hand_over(response)
            return
        # A body not all arrived: the next request's start cannot be found without reading it.
        keep_alive = keep_alive and not self.closing and (incoming is None or incoming.done)
        try:
            head = self._head(response, keep_alive)
        except (ValueError, UnicodeEncodeError) as exc:
            log.error("refused to write %r's answer: %s", request, exc)
            response = _problem(request, 500, "internal error")
            head = self._head(response, keep_alive)
        payload = response.body
        if head_only or not payload or response.status in _NO_BODY_STATUSES:
            transport.write(head)
        else:
            transport.writelines((head, payload))  # one writev, the body not copied
        if not keep_alive:
            self._close()
            return
        if self._queue:
            if not self._writing_paused:  # else resume_writing starts it
                self._start(self._queue[0])
        elif self._refusal is not None:
            self._write_refusal()
            return
        elif not self._in_head:
            self.deadline = self._loop.time() + self._settings.keepalive_timeout_s
        if self._reading_paused:
            self._update_reading()

    def _hand_over(self, answer: Handover) -> None:
        """The route takes the connection (:mod:`tailor.serve.handover`): its head, then the
        socket is the adopting protocol's; this one is done."""
        transport = self._transport
        assert transport is not None
        tail = getattr(self, "_upgrade_tail", None)
        fields = "".join(f"{name}: {value}\r\n" for name, value in answer.headers)
        lines = len(answer.headers)
        if answer.upgrade and tail is None:  # a 101 to a request that asked no upgrade
            refusal = problem_response(400, "this endpoint needs a protocol upgrade")
        elif fields.count("\n") != lines or fields.count("\r") != lines:
            log.error("refused to hand over: CR or LF in a header")
            refusal = problem_response(500, "internal error")
        else:
            refusal = None
        if refusal is not None:
            transport.writelines((self._head(refusal, False), refusal.body))
            self._close()
            return
        if answer.upgrade:
            fields += f"connection: upgrade\r\nupgrade: {answer.upgrade}\r\n"
        else:
            fields += "connection: close\r\n"  # the body ends when the connection does
        phrase = HTTPStatus(answer.status).phrase
        head = f"HTTP/1.1 {answer.status} {phrase}\r\n{fields}{_date.line()}\r\n"
        for _, body, _, _ in self._queue:  # pipelined after it: never answered
            if body is not None:
                body.fail()
        self._queue.clear()
        self._transport = None
        self.deadline = _NEVER
        self._server.forget(self)
        del self._parser  # its callbacks are this protocol's (see connection_lost)
        transport.write(head.encode("latin-1"))
        transport.set_protocol(answer.adopt(transport, tail or b"", self._server))

    @staticmethod
    def _head(response: Response, keep_alive: bool) -> bytes:
        """The status line and header section of ``response``, with the server's fields."""
        headers = response.headers
        # name: value lines joined in C; a value with CR or LF would add a line.
        fields = "\r\n".join(map(": ".join, headers))
        lines = len(headers) - 1
        if lines >= 0:
            if fields.count("\n") != lines or fields.count("\r") != lines:
                raise ValueError("CR or LF in a response header")
            fields += "\r\n"
        status = response.status
        length = "" if status in _NO_BODY_STATUSES else f"content-length: {len(response.body)}\r\n"
        close = "" if keep_alive else "connection: close\r\n"
        return f"{_status_line(status)}{fields}{_date.line()}{close}{length}\r\n".encode("latin-1")

    def _count_framing(self, size: int) -> None:
        """A read inside a body: what it held beyond the body's data was chunk framing (sizes,
        extensions) or trailers, which llhttp skips or buffers. Allowed: as many bytes as the
        data, plus a head's worth (the first read's count includes the request's head)."""
        body = self._body
        assert body is not None
        body.wire += size
        if body.wire - 2 * body.received > self._settings.head_limit:
            self._refuse(_Refused(400, "too much chunked framing"))

    def write_continue(self) -> None:
        if self._transport is not None:
            self._transport.write(_CONTINUE)

    def body_drained(self) -> None:
        if self._reading_paused:
            self._update_reading()

    # -- refusing and closing --------------------------------------------------------------

    def _refuse(self, refused: _Refused) -> None:
        """Stop parsing: answer ``refused`` once the requests before it are answered, then
        close."""
        self._stop_reading()
        self._in_head = False
        body = self._body
        if body is not None:
            body.fail()
            self._body = None
            queue = self._queue
            # A request whose body broke before its answer started is not run: the refusal is
            # its answer (run, it would answer as if its body were whole).
            if queue and queue[-1][1] is body:
                if self._ready is queue[-1]:  # taken, not started
                    self._ready, self._busy = None, False
                if not (self._busy and len(queue) == 1):  # else it is the one being answered
                    queue.pop()
        self._refusal = refused
        if not self._busy and not self._queue:
            self._write_refusal()

    def _write_refusal(self) -> None:
        refused = self._refusal
        assert refused is not None
        if self._transport is not None:
            if refused.answer is not None:
                self._transport.write(refused.answer)
            else:
                response = problem_response(refused.status, refused.detail)
                self._transport.writelines((self._head(response, False), response.body))
        self._close()

    def _stop_reading(self) -> None:
        self.deadline = _NEVER
        if self._transport is not None and not self._reading_paused:
            self._reading_paused = True
            self._transport.pause_reading()

    def _update_reading(self) -> None:
        transport = self._transport
        if transport is None or self._refusal is not None or transport.is_closing():
            return
        body = self._body
        pause = (
            self._writing_paused
            or len(self._queue) > MAX_PIPELINED
            or (body is not None and body.size > BODY_BUFFER_BYTES)
        )
        if pause != self._reading_paused:
            self._reading_paused = pause
            if pause:
                transport.pause_reading()
            else:
                transport.resume_reading()

    def _close(self) -> None:
        self._queue.clear()  # nothing more is answered here (their clients must ask again)
        if self._transport is not None:
            # Closing waits for what is unsent to be read: a client that does not read gets as
            # long as an idle one (then expire aborts).
            self.deadline = self._loop.time() + self._settings.keepalive_timeout_s
            self._transport.close()

    def expire(self) -> None:
        """The deadline passed: a client that left its answers unread is disconnected, a head
        that did not arrive in time gets a 408, an idle connection is closed. While an answer
        is in progress only the next head is timed (its 408 follows the answer)."""
        transport = self._transport
        if transport is None:
            return
        if self._writing_paused or transport.is_closing():
            transport.abort()  # what is left unsent can only be dropped
        elif self._busy:
            if not self._in_head:
                self.deadline = _NEVER  # the pipeline's own deadlines apply
        elif self._in_head and self._refusal is None:
            self._refuse(_Refused(408, "request headers not received in time"))
        else:
            self._close()

    def shut(self) -> None:
        """Server shutdown: close now if idle, else after the answer in progress.

        With ``drain_idle_s``, an idle connection stays open that long: a request already on
        its way (a new connection's first, a kept-alive one's next) would otherwise cross the
        close on the wire and be lost; it is answered, with ``connection: close``."""
        self.closing = True
        if not self._busy and not self._in_head:
            linger = self._settings.drain_idle_s
            if linger > 0 and self._transport is not None:
                self.deadline = min(self.deadline, self._loop.time() + linger)
            else:
                self._close()

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()


class Served(Protocol):
    """A connection as the server tends it (an HTTP/1.1 one, or an HTTP/2 one)."""

    deadline: float

    def expire(self) -> None: ...

    def shut(self) -> None: ...

    def abort(self) -> None: ...


class Http1Server:
    """Serve ``handle`` on a listening socket until :meth:`close`.

    >>> async def main() -> None:
    ...     async def hello(request: Request) -> Response:
    ...         return Response(200, b"hi")
    ...     server = Http1Server(hello, ServerSettings())
    ...     await server.start(host="127.0.0.1", port=0)
    ...     await server.close(grace_s=1)
    >>> asyncio.run(main())
    """

    def __init__(self, handle: Handle, settings: ServerSettings) -> None:
        self.handle = handle
        self.settings = settings
        self.connections: set[Served] = set()
        self.loop: asyncio.AbstractEventLoop  # the running loop, set by start()
        #: Wake-ups of the listening socket that accepted at least one connection, and the
        #: connections accepted and turned away in all: how batched accepting is (and seen).
        self.accept_wakeups = 0
        self.accepted = 0
        self.turned_away = 0
        #: Requests answered 503 as their head was parsed (``settings.shedding``).
        self.shed = 0
        #: The parser a connection refusing a lone head borrows (``_Connection._shed_lean``).
        self.lean: _LeanHead | None = None
        #: HTTP/1.1 connections made whose first request has not started (see ``pending``).
        self.unserved = 0
        self._listener: socket.socket | None = None
        self._family = int(socket.AF_INET)  # the listener's, set by start()
        self._opening = 0  # accepted, transport not made yet (a TLS handshake in progress)
        self._busy = problem_response(
            503,
            "the server is at its connection limit; retry later",
            headers=(("retry-after", str(settings.retry_after_s)),),
        )
        #: The answer to a request or a connection refused because the BFF is overloaded.
        self.overloaded = problem_response(
            503,
            "the service is over capacity; retry later",
            headers=(("retry-after", str(settings.retry_after_s)),),
        )
        # Those two answers' bytes, made again only when the date line changes (once a second).
        self._refusals: dict[tuple[int, bool, bool], bytes] = {}
        self._refusals_date = ""
        # What a turned-away connection had sent is read into this and dropped.
        self._discard = bytearray(settings.head_limit)
        #: When a request starting accepts first (see ``ACCEPT_EVERY_S``); never while
        #: connections arrive one per turn or fewer, or while not listening.
        self.accept_due = _NEVER
        self._sweeper: asyncio.TimerHandle | None = None
        self._retry: asyncio.TimerHandle | None = None
        self._drained: asyncio.Event | None = None
        #: What serves an accepted connection: HTTP/1.1, or either protocol.
        self._protocol: Callable[[], asyncio.Protocol] = lambda: _Connection(self)
        if settings.http2:
            from tailor.serve.http2 import negotiating

            self._protocol = lambda: negotiating(self)

    @property
    def pending(self) -> int:
        """Connections accepted and admitted whose first request has not reached the pipeline
        yet: what ``settings.admitting`` is asked with. A connection is admitted in one turn of
        the loop, made in the next and read in the one after, while the shed stage counts only
        requests it has seen: without these, one wake-up of the listening socket admitted every
        connection waiting (hundreds under overload), and the pipeline then refused most of
        them, each after a transport, a parser and several turns of the loop."""
        return self._opening + self.unserved

    @property
    def port(self) -> int:
        assert self._listener is not None
        return int(self._listener.getsockname()[1])

    async def start(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        sock: socket.socket | None = None,
    ) -> None:
        """Listen on ``sock`` (a bound socket, e.g. shared by forked workers) or on
        ``host:port`` (with ``settings.backlog``)."""
        self.loop = asyncio.get_running_loop()
        if sock is None:
            sock = socket.create_server((host, port), backlog=self.settings.backlog)
        sock.setblocking(False)
        self._listener = sock
        self._family = int(sock.family)
        self.loop.add_reader(sock.fileno(), self.accept, True)
        self._sweeper = self.loop.call_later(SWEEP_INTERVAL_S, self._sweep)

    def accept(self, woken: bool = False) -> None:
        """Take every connection waiting (up to a batch): the listening socket is readable
        (``woken``), or a request is starting ``ACCEPT_EVERY_S`` after the last accept."""
        listener = self._listener
        if listener is None or self._retry is not None:
            return  # closed, or out of descriptors (accepting resumes later)
        now = self.loop.time()
        admitting = self.settings.admitting
        # The descriptor alone (what socket.accept wraps): a connection turned away never
        # becomes a socket.socket.
        accept: Callable[[], tuple[int, Any]] = listener._accept  # type: ignore[attr-defined]
        family, kind, proto = listener.family, listener.type, listener.proto
        taken = 0
        for _ in range(ACCEPT_BATCH):
            try:
                fd, _ = accept()
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:  # out of descriptors or buffers: retry shortly, not at once
                log.warning("accept failed (%s); accepting again in %gs", exc, ACCEPT_RETRY_S)
                self.loop.remove_reader(listener.fileno())
                self._retry = self.loop.call_later(ACCEPT_RETRY_S, self._resume_accepting)
                break
            taken += 1
            if len(self.connections) + self._opening >= self.settings.max_connections:
                self._turn_away(fd, self._busy)
            elif admitting is not None and not admitting(self.pending):
                self._turn_away(fd, self.overloaded)
            else:
                self._opening += 1
                conn = socket.socket(family, kind, proto, fd)
                self.loop.create_task(self._adopt(conn))
        if taken:
            self.accept_wakeups += 1
            self.accepted += taken
        # A wake-up that found one connection or none: they arrive slower than the loop turns,
        # and an accept in the middle of a turn would find nothing (and cost an exception).
        busy = taken > 1 or not woken
        self.accept_due = now + ACCEPT_EVERY_S if busy else _NEVER

    def _resume_accepting(self) -> None:
        self._retry = None
        if self._listener is not None:
            self.loop.add_reader(self._listener.fileno(), self.accept, True)

    def _turn_away(self, fd: int, answer: Response) -> None:
        """Over the connection cap, or not admitting: a 503 written straight to the new
        connection's descriptor ``fd``, then closed."""
        self.turned_away += 1
        # A bare C-level socket: none of socket.socket's Python-level setup, and the flags
        # make each call non-blocking without a system call to switch the socket's mode.
        conn = _socket.socket(self._family, socket.SOCK_STREAM, 0, fd)
        try:
            if self.settings.tls is None:  # over TLS an answer needs a handshake: closed only
                # Held back (MSG_MORE) for the FIN, which the shutdown below adds to it: one
                # segment instead of two, and one wake-up of the client.
                conn.send(self.refusal(answer), _HELD)
            # What the client already sent is read first: closing with unread bytes would
            # reset the connection, and a reset may reach the client before the 503 does.
            conn.recv_into(self._discard, 0, socket.MSG_DONTWAIT)
        except OSError:
            pass  # the client went away, or its request has not arrived: nothing to read
        # The answer and the FIN leave now, before close: bytes arriving in between make close
        # reset the connection, which would drop an answer still held back. (A try, not
        # contextlib.suppress: this runs for every connection turned away.)
        try:  # noqa: SIM105
            conn.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the client went away
        conn.close()

    def refusal(self, answer: Response, keep_alive: bool = False, head_only: bool = False) -> bytes:
        """``answer``'s bytes (closing the connection unless ``keep_alive``; its head alone, to
        a HEAD, when ``head_only``), made once per date line (the date is its only moving
        part)."""
        line = _date.line()
        if line is not self._refusals_date:
            self._refusals_date = line
            self._refusals = {}
        key = (id(answer), keep_alive, head_only)
        data = self._refusals.get(key)
        if data is None:
            data = _Connection._head(answer, keep_alive)
            self._refusals[key] = data = data if head_only else data + answer.body
        return data

    async def _adopt(self, conn: socket.socket) -> None:
        tls = self.settings.tls
        try:
            await self.loop.connect_accepted_socket(
                self._protocol,
                conn,
                ssl=tls,
                # A handshake must end in time as a request head must: no connection held
                # for free.
                ssl_handshake_timeout=self.settings.header_read_timeout_s if tls else None,
            )
        except (OSError, ssl.SSLError, TimeoutError) as exc:
            log.debug("connection dropped before it was served: %r", exc)
            conn.close()
        finally:
            self._opening -= 1

    def _sweep(self) -> None:
        now = self.loop.time()
        for connection in [c for c in self.connections if c.deadline <= now]:
            connection.expire()
        self._sweeper = self.loop.call_later(SWEEP_INTERVAL_S, self._sweep)

    @property
    def draining(self) -> bool:
        """:meth:`close` has begun."""
        return self._drained is not None

    def forget(self, connection: Served) -> None:
        if isinstance(connection, _Connection) and connection.fresh:  # gone before a request
            connection.fresh = False
            self.unserved -= 1
        self.connections.discard(connection)
        if not self.connections and self._drained is not None:
            self._drained.set()

    async def close(self, grace_s: float) -> None:
        """Stop accepting; let answers in progress finish for up to ``grace_s``; then close
        every connection."""
        listener, self._listener = self._listener, None
        self.accept_due = _NEVER
        if listener is not None:
            self.loop.remove_reader(listener.fileno())
            listener.close()
        # Lingering idle connections (drain_idle_s) are closed by the sweeper's deadlines.
        lingering = self.settings.drain_idle_s > 0
        for handle in (self._retry,) if lingering else (self._sweeper, self._retry):
            if handle is not None:
                handle.cancel()
        drained = self._drained = asyncio.Event()
        for connection in list(self.connections):
            connection.shut()
        try:
            await self._drain(drained, grace_s)
        finally:
            if self._sweeper is not None:
                self._sweeper.cancel()

    async def _drain(self, drained: asyncio.Event, grace_s: float) -> None:
        if self.connections:
            try:
                async with asyncio.timeout(grace_s):
                    await drained.wait()
            except TimeoutError:
                log.warning(
                    "%d connection(s) still busy after %gs: closed", len(self.connections), grace_s
                )
                for connection in list(self.connections):
                    connection.abort()


def settings_from(
    config: Any,
    admitting: Callable[[int], bool] | None = None,
    *,
    tls_port: bool = False,
    shedding: Callable[[], bool] | None = None,
) -> ServerSettings:
    """The server's settings from a BFF's :class:`tailor.config.Config` (and ``admitting``
    and ``shedding``, its :meth:`~tailor.app.BFF.admitting` and
    :meth:`~tailor.app.BFF.shedding`): for ``listen.port``, or for ``listen.tls_port`` when
    ``tls_port`` (``listen.port`` is then clear text)."""
    tls = config.listen.tls if tls_port or config.listen.tls_port is None else None
    return ServerSettings(
        head_limit=max(4 * config.limits.max_header_bytes, 64 * 1024),
        header_read_timeout_s=config.limits.header_read_timeout_s,
        keepalive_timeout_s=config.server.keepalive_timeout_s,
        tls=tls_context(tls, http2=config.server.http2) if tls is not None else None,
        backlog=config.server.backlog,
        max_connections=config.server.max_connections,
        retry_after_s=config.resilience.shed.retry_after_s,
        http2=config.server.http2,
        admitting=admitting,
        drain_idle_s=config.server.drain_idle_s,
        shedding=shedding,
    )


#: TLS 1.2 suites offered: forward-secret AEAD only. Python's default list also offers CBC
#: suites (ECDHE-*-AES*-SHA256/384), the family of Lucky13-style padding-oracle attacks.
#: TLS 1.3 suites are all AEAD and are not governed by this string.
AEAD_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20:!aNULL:!eNULL:!aDSS"


def tls_context(tls: TLS, *, http2: bool = False) -> ssl.SSLContext:
    """The server side of ``listen.tls``: with ``client_ca_file``, the handshake asks for a
    client certificate and OpenSSL verifies it against that CA (required or optional). ALPN
    offers ``h2`` first when ``http2``. (The ciphers are all ones HTTP/2 allows: RFC 9113
    s9.2.2.)"""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(AEAD_CIPHERS)
    context.set_alpn_protocols(["h2", "http/1.1"] if http2 else ["http/1.1"])
    context.load_cert_chain(tls.cert_file, tls.key_file)
    if tls.client_ca_file is not None:
        context.load_verify_locations(tls.client_ca_file)
        required = tls.client_cert == "required"
        context.verify_mode = ssl.CERT_REQUIRED if required else ssl.CERT_OPTIONAL
    return context
