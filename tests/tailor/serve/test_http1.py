"""tailor's HTTP/1.1 server (tailor.serve.http1) on real sockets on 127.0.0.1.

Each test starts an ``Http1Server`` in its own event loop with a small handler, the app seam,
and talks to it with a raw client that writes exact bytes and parses the answers, so framing,
ordering and closing can be seen byte for byte. Every test runs on asyncio's loop and on uvloop
(see ``conftest.py``).
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import json
import math
import os
import re
import socket
import time
import types
from collections.abc import AsyncIterator, Awaitable, Callable
from email.utils import parsedate_to_datetime
from typing import Any, NamedTuple, cast

import pytest

from tailor import BFF, build_config
from tailor.errors import ClientDisconnected
from tailor.http import Request, Response
from tailor.serve import http1
from tailor.serve.http1 import MAX_PIPELINED, MAX_QUEUED, Handle, Http1Server, ServerSettings

#: How long a test waits for anything the server should do at once.
TIMEOUT_S = 2.0

GET = b"GET / HTTP/1.1\r\nhost: test\r\n\r\n"


def get(path: str, *headers: str) -> bytes:
    lines = "".join(f"{h}\r\n" for h in headers)
    return f"GET {path} HTTP/1.1\r\nhost: test\r\n{lines}\r\n".encode("latin-1")


class Answer(NamedTuple):
    status: int
    headers: dict[str, str]  # lower-case names, repeated fields joined with ", "
    body: bytes
    head: bytes  # the status line and header lines as written


class Client(asyncio.Protocol):
    """A raw HTTP/1.1 client: writes exact bytes, parses answers as they arrive, and notes the
    server's close. A reset after an answer counts as a close: the answer was kept first."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.closed = False
        self._changed = asyncio.Event()
        self._flushed = asyncio.Event()
        self._flushed.set()

    @classmethod
    async def connect(cls, port: int, sock: socket.socket | None = None) -> Client:
        loop = asyncio.get_running_loop()
        if sock is None:
            _, client = await loop.create_connection(cls, "127.0.0.1", port)
        else:
            _, client = await loop.create_connection(cls, sock=sock)
        return client

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but behave as one.
        self.transport = cast(asyncio.Transport, transport)
        # Paused as soon as anything is left unsent: flushed() means all of it left.
        self.transport.set_write_buffer_limits(high=0)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self._changed.set()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._changed.set()
        self._flushed.set()

    def pause_writing(self) -> None:
        self._flushed.clear()

    def resume_writing(self) -> None:
        self._flushed.set()

    def send(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.write(data)

    def close(self) -> None:
        assert self.transport is not None
        self.transport.close()

    async def flushed(self) -> None:
        await self._flushed.wait()

    async def _changes(self) -> None:
        self._changed.clear()
        await self._changed.wait()

    async def answer(self, *, head_only: bool = False) -> Answer:
        """The next answer; ``head_only`` for a HEAD's, which has no body whatever it says."""
        async with asyncio.timeout(TIMEOUT_S):
            while (answer := self._parse(head_only)) is None:
                assert not self.closed, f"closed before an answer: {bytes(self.buffer)!r}"
                await self._changes()
        return answer

    async def closed_by_server(self) -> bytes:
        """Wait for the server to close; what arrived and was not parsed as an answer."""
        async with asyncio.timeout(TIMEOUT_S):
            while not self.closed:
                await self._changes()
        return bytes(self.buffer)

    def _parse(self, head_only: bool) -> Answer | None:
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return None
        head = bytes(self.buffer[:end])
        status_line, *lines = head.decode("latin-1").split("\r\n")
        version, status_text, *_ = status_line.split(" ")
        assert version == "HTTP/1.1", head
        status = int(status_text)
        headers: dict[str, str] = {}
        for line in lines:
            name, _, value = line.partition(":")
            name, value = name.lower(), value.strip()
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        no_body = head_only or status in (204, 304) or 100 <= status < 200
        length = 0 if no_body else int(headers["content-length"])
        if len(self.buffer) < end + 4 + length:
            return None
        body = bytes(self.buffer[end + 4 : end + 4 + length])
        del self.buffer[: end + 4 + length]
        return Answer(status, headers, body, head)


Start = Callable[..., Awaitable[Http1Server]]


@pytest.fixture
async def start(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Start]:
    """Start servers on 127.0.0.1 (``start(handle, **settings)``); all closed at teardown."""
    # Deadlines are looked at every sweep: often enough here for timeouts of tenths of seconds.
    monkeypatch.setattr(http1, "SWEEP_INTERVAL_S", 0.02)
    started: list[Http1Server] = []

    async def start_server(
        handle: Handle, *, sock: socket.socket | None = None, **settings: Any
    ) -> Http1Server:
        server = Http1Server(handle, ServerSettings(**settings))
        await server.start(host="127.0.0.1", port=0, sock=sock)
        started.append(server)
        return server

    yield start_server
    for server in started:
        await server.close(grace_s=0)


#: Kernel buffer sizes for tests that need a side to stop reading and the other to feel it.
SMALL_BUFFER = 64 * 1024


async def start_with_small_buffers(
    start: Start, handle: Handle, **settings: Any
) -> tuple[Http1Server, Client]:
    """A server and a connected client whose kernel buffers are small and fixed (on loopback
    they would otherwise grow to megabytes): what the kernels can hold between the two is then
    well under 1 MB, so when one side stops reading the other soon has to wait."""
    listener = socket.socket()
    for option in (socket.SO_RCVBUF, socket.SO_SNDBUF):  # accepted sockets inherit both
        listener.setsockopt(socket.SOL_SOCKET, option, SMALL_BUFFER)
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    server = await start(handle, sock=listener, **settings)
    sender = socket.socket()
    for option in (socket.SO_RCVBUF, socket.SO_SNDBUF):
        sender.setsockopt(socket.SOL_SOCKET, option, SMALL_BUFFER)
    sender.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sender, ("127.0.0.1", server.port))
    client = await Client.connect(server.port, sock=sender)
    return server, client


async def ok(request: Request) -> Response:
    return Response(200, b"ok", [("content-type", "text/plain")])


async def echo_path(request: Request) -> Response:
    return Response(200, request.path.encode())


async def echo_body(request: Request) -> Response:
    return Response(200, b"".join([chunk async for chunk in request.read_body()]))


class Seen:
    """A handler that keeps every request it is given."""

    def __init__(self) -> None:
        self.requests: list[Request] = []

    async def __call__(self, request: Request) -> Response:
        self.requests.append(request)
        return Response(200, b"ok")


class Held:
    """A handler that holds the requests to ``hold_path`` until released; the rest answer at
    once. Each answer's body is the request's path; ``order`` is the order handlers ran in."""

    def __init__(self, hold_path: str = "/slow") -> None:
        self.hold_path = hold_path
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        self.order: list[str] = []
        self.tasks: list[asyncio.Task[Any]] = []

    async def __call__(self, request: Request) -> Response:
        self.order.append(request.path)
        if request.path == self.hold_path:
            task = asyncio.current_task()
            assert task is not None
            self.tasks.append(task)
            self.started.set()
            await self.release.wait()
        return Response(200, request.path.encode())


async def wait_for(event: asyncio.Event) -> None:
    async with asyncio.timeout(TIMEOUT_S):
        await event.wait()


def assert_problem(answer: Answer, status: int) -> None:
    """A refusal: the status, as problem+json, with nothing of the server's insides."""
    assert answer.status == status, answer
    assert answer.headers["content-type"] == "application/problem+json"
    assert json.loads(answer.body)["status"] == status
    assert b"Traceback" not in answer.body and b'File "' not in answer.body


async def refused_unseen(start: Start, raw: bytes, status: int, **settings: Any) -> Answer:
    """``raw`` on a new connection is refused with ``status``, the connection closed, and the
    handler never sees a request. The refusal, for what else a test checks of it."""
    seen = Seen()
    server = await start(seen, **settings)
    client = await Client.connect(server.port)
    client.send(raw)
    answer = await client.answer()
    assert_problem(answer, status)
    assert await client.closed_by_server() == b""
    assert seen.requests == []
    return answer


# -- keep-alive -----------------------------------------------------------------------------


async def test_two_requests_on_one_connection_get_two_answers(start: Start) -> None:
    server = await start(echo_path)
    client = await Client.connect(server.port)
    client.send(get("/one"))
    first = await client.answer()
    client.send(get("/two"))
    second = await client.answer()
    assert (first.status, first.body, second.status, second.body) == (200, b"/one", 200, b"/two")
    assert "connection" not in first.headers and "connection" not in second.headers
    assert not client.closed


async def test_connection_close_from_the_client_closes_after_the_answer(start: Start) -> None:
    server = await start(ok)
    client = await Client.connect(server.port)
    client.send(get("/", "connection: close"))
    answer = await client.answer()
    assert (answer.status, answer.headers["connection"]) == (200, "close")
    assert await client.closed_by_server() == b""


async def test_an_http10_request_without_keep_alive_is_closed_after_its_answer(
    start: Start,
) -> None:
    server = await start(ok)
    client = await Client.connect(server.port)
    client.send(b"GET / HTTP/1.0\r\nhost: test\r\n\r\n")
    answer = await client.answer()
    assert (answer.status, answer.body, answer.headers["connection"]) == (200, b"ok", "close")
    assert await client.closed_by_server() == b""


# -- pipelining -----------------------------------------------------------------------------


async def test_pipelined_requests_are_answered_in_order_when_the_first_is_slowest(
    start: Start,
) -> None:
    held = Held("/1")
    server = await start(held)
    client = await Client.connect(server.port)
    client.send(get("/1") + get("/2") + get("/3"))
    await wait_for(held.started)
    # Were the others answered as they finish, /2 and /3 would be on the wire by now.
    held.release.set()
    bodies = [(await client.answer()).body for _ in range(3)]
    assert bodies == [b"/1", b"/2", b"/3"]
    assert held.order == ["/1", "/2", "/3"]


async def test_requests_pipelined_past_the_queue_bound_are_answered_then_reading_resumes(
    start: Start,
) -> None:
    held = Held("/0")
    server = await start(held)
    client = await Client.connect(server.port)
    count = 3 * MAX_PIPELINED  # reading pauses past MAX_PIPELINED and must resume
    client.send(b"".join(get(f"/{i}") for i in range(count)))
    await wait_for(held.started)
    held.release.set()
    bodies = [(await client.answer()).body for _ in range(count)]
    client.send(get("/after"))  # read once the queue is worked off
    bodies.append((await client.answer()).body)
    assert bodies == [f"/{i}".encode() for i in range(count)] + [b"/after"]


async def test_requests_past_max_queued_in_one_read_are_refused_503_after_the_rest(
    start: Start,
) -> None:
    held = Held("/0")
    server = await start(held)
    client = await Client.connect(server.port)
    # One write, one read: all of it is parsed before reading could pause.
    client.send(b"".join(get(f"/{i}") for i in range(MAX_QUEUED + 10)))
    await wait_for(held.started)
    held.release.set()
    answers = [await client.answer() for _ in range(MAX_QUEUED + 1)]
    assert [a.body for a in answers[:-1]] == [f"/{i}".encode() for i in range(MAX_QUEUED)]
    assert_problem(answers[-1], 503)
    assert answers[-1].headers["connection"] == "close"
    assert await client.closed_by_server() == b""
    assert len(held.order) == MAX_QUEUED


async def test_no_answer_is_started_while_the_client_leaves_the_one_before_unread(
    start: Start,
) -> None:
    handled: list[str] = []
    third = asyncio.Event()

    async def large(request: Request) -> Response:
        handled.append(request.path)
        if len(handled) == 3:
            third.set()
        return Response(200, request.path.encode() * (1024 * 1024 // len(request.path)))

    _, client = await start_with_small_buffers(start, large)
    assert client.transport is not None
    client.transport.pause_reading()  # the first answer fills the buffers and waits
    client.send(b"".join(get(f"/{i}") for i in range(4)))
    # Something that must not happen, so a bounded wait: without the hold, every answer would
    # be made and buffered in the server's memory in milliseconds.
    done, _ = await asyncio.wait({asyncio.ensure_future(third.wait())}, timeout=0.3)
    assert not done, f"answers made for a client not reading: {handled}"
    client.transport.resume_reading()
    answers = [await client.answer() for _ in range(4)]
    assert [a.body[:2] for a in answers] == [b"/0", b"/1", b"/2", b"/3"]
    assert handled == ["/0", "/1", "/2", "/3"]


@pytest.mark.parametrize("connection", ["keep-alive", "close"])
async def test_a_client_leaving_its_answer_unread_is_disconnected_after_the_keepalive_timeout(
    start: Start, monkeypatch: pytest.MonkeyPatch, connection: str
) -> None:
    lost = asyncio.Event()
    connection_lost = http1._Connection.connection_lost

    def note_lost(self: http1._Connection, exc: Exception | None) -> None:
        connection_lost(self, exc)
        lost.set()

    monkeypatch.setattr(http1._Connection, "connection_lost", note_lost)

    async def large(request: Request) -> Response:
        return Response(200, b"x" * (1024 * 1024))

    _, client = await start_with_small_buffers(start, large, keepalive_timeout_s=0.3)
    assert client.transport is not None
    client.transport.pause_reading()  # and never again: the answer cannot all be sent
    client.send(get("/", f"connection: {connection}"))
    await wait_for(lost)  # the server let go of the connection and its unsent answer


# -- the request the handler sees -------------------------------------------------------------


async def test_the_handler_sees_the_method_and_the_percent_decoded_path(start: Start) -> None:
    seen = Seen()
    server = await start(seen)
    client = await Client.connect(server.port)
    client.send(b"DELETE /a%20b/caf%C3%A9 HTTP/1.1\r\nhost: test\r\n\r\n")
    await client.answer()
    [request] = seen.requests
    assert (request.method, request.path) == ("DELETE", "/a b/caf\u00e9")


@pytest.mark.parametrize("path", ["/a%2Fb", "/a%2fb", "/v1%2F..%2Fadmin"])
async def test_an_encoded_slash_in_the_path_is_refused_400(start: Start, path: str) -> None:
    await refused_unseen(start, get(path), 400)


async def test_the_handler_sees_the_raw_query_string(start: Start) -> None:
    seen = Seen()
    server = await start(seen)
    client = await Client.connect(server.port)
    client.send(get("/search?q=a%20b&tag=x&tag=y"))
    await client.answer()
    [request] = seen.requests
    assert (request.path, request.query_string) == ("/search", "q=a%20b&tag=x&tag=y")


async def test_header_names_reach_the_handler_lower_cased(start: Start) -> None:
    seen = Seen()
    server = await start(seen)
    client = await Client.connect(server.port)
    client.send(get("/", "X-Request-ID: Abc", "Accept-Language: fr"))
    await client.answer()
    [request] = seen.requests
    assert request.headers == {"host": "test", "x-request-id": "Abc", "accept-language": "fr"}


async def test_a_repeated_header_reaches_the_handler_joined_with_a_comma(start: Start) -> None:
    seen = Seen()
    server = await start(seen)
    client = await Client.connect(server.port)
    client.send(get("/", "x-tag: a", "X-Tag: b", "x-other: c", "x-tag: d"))
    await client.answer()
    [request] = seen.requests
    assert request.headers["x-tag"] == "a, b, d"
    assert request.headers["x-other"] == "c"


async def test_the_handler_sees_the_client_address(start: Start) -> None:
    seen = Seen()
    server = await start(seen)
    client = await Client.connect(server.port)
    client.send(GET)
    await client.answer()
    assert seen.requests[0].client == "127.0.0.1"


async def test_an_absolute_form_target_gives_the_handler_its_path_and_query(start: Start) -> None:
    seen = Seen()
    server = await start(seen)
    client = await Client.connect(server.port)
    client.send(b"GET http://example.com:8080/a%20b?x=1&y=2 HTTP/1.1\r\nhost: example.com\r\n\r\n")
    await client.answer()
    [request] = seen.requests
    assert (request.path, request.query_string) == ("/a b", "x=1&y=2")


# -- request bodies -------------------------------------------------------------------------


async def test_a_content_length_body_arrives_intact(start: Start) -> None:
    server = await start(echo_body)
    client = await Client.connect(server.port)
    client.send(b"POST / HTTP/1.1\r\nhost: test\r\ncontent-length: 11\r\n\r\nhello")
    client.send(b" world")
    answer = await client.answer()
    assert (answer.status, answer.body) == (200, b"hello world")


async def test_a_chunked_body_arrives_intact(start: Start) -> None:
    server = await start(echo_body)
    client = await Client.connect(server.port)
    client.send(b"POST / HTTP/1.1\r\nhost: test\r\ntransfer-encoding: chunked\r\n\r\n")
    client.send(b"5\r\nhello\r\n1\r\n \r\n")
    client.send(b"5\r\nworld\r\n0\r\n\r\n")
    answer = await client.answer()
    assert (answer.status, answer.body) == (200, b"hello world")


async def test_a_chunked_body_in_many_small_chunks_arrives_intact(start: Start) -> None:
    server = await start(echo_body, head_limit=1024)
    client = await Client.connect(server.port)
    chunks = [b"%08d" % i for i in range(2000)]  # framing: 5 bytes per 8 of data
    client.send(
        b"POST / HTTP/1.1\r\nhost: test\r\ntransfer-encoding: chunked\r\n\r\n"
        + b"".join(b"8\r\n%s\r\n" % chunk for chunk in chunks)
        + b"0\r\n\r\n"
    )
    answer = await client.answer()
    assert (answer.status, answer.body) == (200, b"".join(chunks))


async def test_trailers_never_reach_the_request_headers(start: Start) -> None:
    async def names_after_the_body(request: Request) -> Response:
        body = b"".join([chunk async for chunk in request.read_body()])
        return Response(200, json.dumps([body.decode(), sorted(request.headers)]).encode())

    server = await start(names_after_the_body)
    client = await Client.connect(server.port)
    client.send(
        b"POST / HTTP/1.1\r\nhost: test\r\ntransfer-encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n0\r\nx-user-id: admin\r\nhost: elsewhere\r\n\r\n"
    )
    answer = await client.answer()
    assert json.loads(answer.body) == ["hello", ["host", "transfer-encoding"]]
    client.send(GET)  # the trailers ended the request: the connection goes on
    assert (await client.answer()).status == 200


async def test_a_pipelined_request_whose_body_is_malformed_is_not_run_but_refused_400(
    start: Start,
) -> None:
    held = Held()
    server = await start(held)
    client = await Client.connect(server.port)
    client.send(
        get("/slow")
        + b"POST /upload HTTP/1.1\r\nhost: test\r\ntransfer-encoding: chunked\r\n\r\n"
        + b"zz\r\nhello\r\n0\r\n\r\n"  # not a chunk size
    )
    await wait_for(held.started)
    held.release.set()
    first = await client.answer()
    assert (first.status, first.body) == (200, b"/slow")
    assert_problem(await client.answer(), 400)
    assert await client.closed_by_server() == b""
    assert held.order == ["/slow"]


async def test_a_chunked_body_whose_trailers_never_end_is_refused_400(start: Start) -> None:
    reading = asyncio.Event()

    async def read_upload(request: Request) -> Response:
        try:
            async for _ in request.read_body():
                reading.set()
        except ClientDisconnected:
            return Response(200, b"what the handler made of a broken body")
        return Response(200, b"whole")

    server = await start(read_upload, head_limit=1024)
    client = await Client.connect(server.port)
    client.send(
        b"POST /upload HTTP/1.1\r\nhost: test\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n"
    )
    await wait_for(reading)  # the handler is reading: only the server's bound can end it
    client.send(b"0\r\nx-trailer: ")
    for _ in range(30):  # never finished
        client.send(b"a" * 100)
    assert_problem(await client.answer(), 400)
    assert await client.closed_by_server() == b""


async def test_a_large_body_is_read_with_back_pressure_and_arrives_whole(start: Start) -> None:
    release = asyncio.Event()

    async def digest_after_release(request: Request) -> Response:
        await release.wait()
        body = b"".join([chunk async for chunk in request.read_body()])
        return Response(200, hashlib.sha256(body).hexdigest().encode())

    # What the client can get out past a server that stopped reading is the kernels' small
    # buffers and the server's own (BODY_BUFFER_BYTES plus at most one read): under 1 MB.
    _, client = await start_with_small_buffers(start, digest_after_release)

    body = bytes(range(256)) * (8 * 1024)  # 2 MiB
    client.send(b"POST / HTTP/1.1\r\nhost: test\r\ncontent-length: %d\r\n\r\n" % len(body) + body)
    flushed = asyncio.ensure_future(client.flushed())
    # Something that must not happen, so a bounded wait: without back-pressure the server
    # would take the whole body into memory and the client would be done in milliseconds.
    done, _ = await asyncio.wait({flushed}, timeout=0.3)
    assert not done, "the server kept reading a body nobody was reading"
    release.set()
    answer = await client.answer()
    assert (answer.status, answer.body) == (200, hashlib.sha256(body).hexdigest().encode())
    await flushed


async def test_expect_100_continue_is_answered_when_the_handler_reads_the_body(
    start: Start,
) -> None:
    server = await start(echo_body)
    client = await Client.connect(server.port)
    client.send(
        b"POST / HTTP/1.1\r\nhost: test\r\ncontent-length: 5\r\nexpect: 100-continue\r\n\r\n"
    )
    interim = await client.answer()
    assert (interim.status, interim.head) == (100, b"HTTP/1.1 100 Continue")
    client.send(b"hello")
    answer = await client.answer()
    assert (answer.status, answer.body) == (200, b"hello")


async def test_expect_100_continue_is_not_answered_when_the_handler_does_not_read_the_body(
    start: Start,
) -> None:
    server = await start(ok)
    client = await Client.connect(server.port)
    client.send(
        b"POST / HTTP/1.1\r\nhost: test\r\ncontent-length: 5\r\nexpect: 100-continue\r\n\r\n"
    )
    answer = await client.answer()
    assert (answer.status, answer.headers["connection"]) == (200, "close")
    assert await client.closed_by_server() == b""


async def test_an_unread_body_still_arriving_closes_the_connection_after_the_answer(
    start: Start,
) -> None:
    server = await start(ok)
    client = await Client.connect(server.port)
    client.send(b"POST / HTTP/1.1\r\nhost: test\r\ncontent-length: 10\r\n\r\nabc")
    answer = await client.answer()
    assert (answer.status, answer.headers["connection"]) == (200, "close")
    assert await client.closed_by_server() == b""


async def test_an_unread_body_that_had_all_arrived_leaves_the_connection_open(
    start: Start,
) -> None:
    server = await start(echo_path)
    client = await Client.connect(server.port)
    # One write: the body has arrived by the time the handler runs. Its bytes must not be
    # taken for the start of the next request.
    client.send(b"POST /first HTTP/1.1\r\nhost: test\r\ncontent-length: 5\r\n\r\nGET /")
    first = await client.answer()
    client.send(get("/second"))
    second = await client.answer()
    assert (first.body, "connection" in first.headers, second.body) == (
        b"/first",
        False,
        b"/second",
    )


async def test_a_client_leaving_mid_body_makes_the_reader_raise_client_disconnected(
    start: Start,
) -> None:
    raised: asyncio.Future[BaseException] = asyncio.get_running_loop().create_future()

    async def read(request: Request) -> Response:
        try:
            async for _ in request.read_body():
                pass
        except Exception as exc:
            raised.set_result(exc)
            raise
        raised.set_result(AssertionError("the body ended without an error"))
        return Response(200)

    server = await start(read)
    client = await Client.connect(server.port)
    client.send(b"POST / HTTP/1.1\r\nhost: test\r\ncontent-length: 100\r\n\r\nonly ten b")
    client.close()
    async with asyncio.timeout(TIMEOUT_S):
        assert isinstance(await raised, ClientDisconnected)


async def test_an_answer_finished_after_its_client_left_ends_quietly(start: Start) -> None:
    finished: asyncio.Future[asyncio.Task[Any]] = asyncio.get_running_loop().create_future()

    async def answer_anyway(request: Request) -> Response:
        try:
            async for _ in request.read_body():
                pass
        except ClientDisconnected:
            pass
        task = asyncio.current_task()
        assert task is not None
        finished.set_result(task)
        return Response(400)

    server = await start(answer_anyway)
    client = await Client.connect(server.port)
    client.send(b"POST / HTTP/1.1\r\nhost: test\r\ncontent-length: 100\r\n\r\nonly ten b")
    client.close()
    async with asyncio.timeout(TIMEOUT_S):
        answering = await finished
        await answering  # the server's task answering the request: it must not fail


# -- framing and refusals -------------------------------------------------------------------


async def test_content_length_with_transfer_encoding_is_refused_400_and_closed(
    start: Start,
) -> None:
    answer = await refused_unseen(
        start,
        b"POST / HTTP/1.1\r\nhost: test\r\ncontent-length: 3\r\ntransfer-encoding: chunked\r\n"
        b"\r\n3\r\nabc\r\n0\r\n\r\n",
        400,
    )
    assert answer.headers["connection"] == "close"


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"GET / HTTP/1.1\nhost: test\n\n", id="bare-lf-request-line"),
        pytest.param(b"GET / HTTP/1.1\r\nhost: test\nx-a: b\r\n\r\n", id="bare-lf-header"),
        pytest.param(b"GET /a b HTTP/1.1\r\nhost: test\r\n\r\n", id="space-in-target"),
        pytest.param(b"GET / HTTX/1.1\r\nhost: test\r\n\r\n", id="bad-version"),
    ],
)
async def test_a_malformed_request_is_refused_400_and_closed(start: Start, raw: bytes) -> None:
    await refused_unseen(start, raw, 400)


async def test_a_refusal_after_a_pipelined_request_is_answered_after_it(start: Start) -> None:
    server = await start(echo_path)
    client = await Client.connect(server.port)
    client.send(get("/first") + b"GET / HTTP/1.1\nhost: test\n\n")
    first = await client.answer()
    refusal = await client.answer()
    assert (first.status, first.body) == (200, b"/first")
    assert_problem(refusal, 400)
    assert await client.closed_by_server() == b""


async def test_an_over_long_head_arriving_in_pieces_is_refused_431(start: Start) -> None:
    seen = Seen()
    server = await start(seen, head_limit=1024)
    client = await Client.connect(server.port)
    client.send(b"GET / HTTP/1.1\r\nhost: test\r\n")
    for i in range(12):  # never finished: the head is refused while it arrives
        client.send(b"x-pad-%d: %s\r\n" % (i, b"a" * 100))
    answer = await client.answer()
    assert_problem(answer, 431)
    assert await client.closed_by_server() == b""
    assert seen.requests == []


async def test_a_pipelined_head_is_bounded_by_its_own_bytes_not_the_body_before_it(
    start: Start,
) -> None:
    server = await start(echo_path, head_limit=1024)
    client = await Client.connect(server.port)
    # One read holding a 1000-byte body and the start of the next head: the head so far is
    # 30 bytes, far under the limit.
    client.send(
        b"POST /first HTTP/1.1\r\nhost: test\r\ncontent-length: 1000\r\n\r\n"
        + b"b" * 1000
        + b"GET /second HTTP/1.1\r\nhost: test\r\n"
    )
    first = await client.answer()
    client.send(b"\r\n")
    second = await client.answer()
    assert [(first.status, first.body), (second.status, second.body)] == [
        (200, b"/first"),
        (200, b"/second"),
    ]


async def test_a_field_repeated_until_joining_it_outgrows_the_head_limit_is_refused_431(
    start: Start,
) -> None:
    # 16 KiB, under the 64 KiB head limit; joined one by one, the copies come to megabytes.
    await refused_unseen(
        start, b"GET / HTTP/1.1\r\nhost: test\r\n" + b"x-a: b\r\n" * 2000 + b"\r\n", 431
    )


async def test_a_second_host_is_refused_400(start: Start) -> None:
    await refused_unseen(start, get("/", "Host: elsewhere"), 400)


async def test_an_over_long_head_arriving_whole_in_one_read_is_refused_431(start: Start) -> None:
    head = b"GET / HTTP/1.1\r\nhost: test\r\n" + b"x-pad: " + b"a" * 2000 + b"\r\n\r\n"
    await refused_unseen(start, head, 431, head_limit=1024)


async def test_the_head_bound_does_not_refuse_a_small_head_in_a_long_read(start: Start) -> None:
    server = await start(echo_body, head_limit=1024)
    client = await Client.connect(server.port)
    client.send(b"POST / HTTP/1.1\r\nhost: test\r\ncontent-length: 3000\r\n\r\n" + b"b" * 3000)
    answer = await client.answer()
    assert (answer.status, len(answer.body)) == (200, 3000)


async def test_whitespace_after_a_header_value_is_not_part_of_it(start: Start) -> None:
    seen = Seen()
    server = await start(seen)
    client = await Client.connect(server.port)
    client.send(get("/", "Origin: https://example.test \t", "x-a:  b c  "))
    await client.answer()
    [request] = seen.requests
    assert (request.headers["origin"], request.headers["x-a"]) == ("https://example.test", "b c")


async def test_a_content_length_with_trailing_whitespace_is_read_by_the_pipeline(
    start: Start,
) -> None:
    bff = BFF(build_config({"name": "ows", "admin": {"enabled": False}}))

    @bff.post("/echo", auth=False)
    async def echo(request: Request) -> Response:
        return Response(200, request.body)

    bff.startup(admin=False)
    server = await start(bff.respond)
    client = await Client.connect(server.port)
    client.send(b"POST /echo HTTP/1.1\r\nhost: test\r\ncontent-length: 5 \r\n\r\nhello")
    answer = await client.answer()
    assert (answer.status, answer.body) == (200, b"hello")


@pytest.mark.parametrize("coding", ["gzip, chunked", "foo, chunked", "Identity, Chunked"])
async def test_a_transfer_coding_other_than_chunked_alone_is_refused_501(
    start: Start, coding: str
) -> None:
    raw = f"POST / HTTP/1.1\r\nhost: test\r\ntransfer-encoding: {coding}\r\n\r\n0\r\n\r\n"
    await refused_unseen(start, raw.encode(), 501)


async def test_an_http10_request_with_transfer_encoding_is_refused_400(start: Start) -> None:
    await refused_unseen(
        start,
        b"POST / HTTP/1.0\r\nhost: test\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
    )


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"GET / HTTP/1.1\r\n\r\n", id="no-host"),
        pytest.param(b"GET / HTTP/1.1\r\nhost:\r\n\r\n", id="empty-host"),
        pytest.param(b"GET / HTTP/1.1\r\nhost: a/b\r\n\r\n", id="slash-in-host"),
        pytest.param(b"GET / HTTP/1.1\r\nhost: u@h\r\n\r\n", id="userinfo-in-host"),
        pytest.param(b"GET / HTTP/1.1\r\nhost: h:8x\r\n\r\n", id="bad-port"),
        pytest.param(b"GET / HTTP/1.0\r\nhost: a b\r\n\r\n", id="invalid-host-http10"),
    ],
)
async def test_a_request_without_one_valid_host_is_refused_400(start: Start, raw: bytes) -> None:
    await refused_unseen(start, raw, 400)


async def test_an_invalid_host_after_a_valid_one_on_the_same_connection_is_refused_400(
    start: Start,
) -> None:
    server = await start(ok)
    client = await Client.connect(server.port)
    client.send(GET + b"GET / HTTP/1.1\r\nhost: a/b\r\n\r\n")
    assert (await client.answer()).status == 200
    assert_problem(await client.answer(), 400)


@pytest.mark.parametrize("host", ["example.test:8080", "[::1]:443", "127.0.0.1", "xn--bcher-kva"])
async def test_a_valid_host_is_served(start: Start, host: str) -> None:
    server = await start(ok)
    client = await Client.connect(server.port)
    client.send(f"GET / HTTP/1.1\r\nhost: {host}\r\n\r\n".encode())
    assert (await client.answer()).status == 200


async def test_an_http10_request_without_host_is_served(start: Start) -> None:
    server = await start(ok)
    client = await Client.connect(server.port)
    client.send(b"GET / HTTP/1.0\r\n\r\n")
    assert (await client.answer()).status == 200


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"GET / HTTP/2.0\r\nhost: test\r\n\r\n", id="http2"),
        pytest.param(
            b"GET / HTTP/2.0\r\nhost: test\r\nconnection: keep-alive\r\n\r\n", id="http2-kept"
        ),
        pytest.param(b"GET / HTTP/0.9\r\nhost: test\r\n\r\n", id="http09"),
    ],
)
async def test_a_version_other_than_http10_and_http11_is_refused_505(
    start: Start, raw: bytes
) -> None:
    await refused_unseen(start, raw, 505)


async def test_the_asterisk_form_target_is_refused_400(start: Start) -> None:
    await refused_unseen(start, b"GET * HTTP/1.1\r\nhost: test\r\n\r\n", 400)


async def test_userinfo_in_an_absolute_form_target_is_refused_400(start: Start) -> None:
    await refused_unseen(start, b"GET http://u:p@test/x HTTP/1.1\r\nhost: test\r\n\r\n", 400)


async def test_a_head_not_finished_in_time_is_refused_408_and_closed(start: Start) -> None:
    server = await start(ok, header_read_timeout_s=0.3)
    client = await Client.connect(server.port)
    client.send(b"GET / HTTP/1.1\r\nhost: test\r\n")
    answer = await client.answer()
    assert_problem(answer, 408)
    assert answer.headers["connection"] == "close"
    assert await client.closed_by_server() == b""


async def test_a_connection_that_sends_nothing_is_closed_after_the_header_timeout(
    start: Start,
) -> None:
    server = await start(ok, header_read_timeout_s=0.3)
    client = await Client.connect(server.port)
    assert await client.closed_by_server() == b""


async def test_an_idle_kept_alive_connection_is_closed_after_the_keepalive_timeout(
    start: Start,
) -> None:
    server = await start(ok, keepalive_timeout_s=0.3)
    client = await Client.connect(server.port)
    client.send(GET)
    answer = await client.answer()
    assert "connection" not in answer.headers  # kept alive, then closed when idle
    assert await client.closed_by_server() == b""


# -- answers --------------------------------------------------------------------------------


async def test_an_answer_carries_content_length_and_date(start: Start) -> None:
    server = await start(ok)
    client = await Client.connect(server.port)
    client.send(GET)
    answer = await client.answer()
    assert answer.headers["content-length"] == "2"
    assert abs(parsedate_to_datetime(answer.headers["date"]).timestamp() - time.time()) < 5


async def test_a_head_request_gets_the_get_content_length_and_no_body(start: Start) -> None:
    async def hello(request: Request) -> Response:
        return Response(200, b"hello")

    server = await start(hello)
    client = await Client.connect(server.port)
    # Both in one write: a body after the HEAD's head would be read as the GET's answer.
    client.send(b"HEAD / HTTP/1.1\r\nhost: test\r\n\r\n" + GET)
    head = await client.answer(head_only=True)
    answer = await client.answer()
    assert (head.status, head.headers["content-length"], head.body) == (200, "5", b"")
    assert (answer.headers["content-length"], answer.body) == ("5", b"hello")


@pytest.mark.parametrize("status", [204, 304])
async def test_a_no_content_answer_carries_neither_body_nor_content_length(
    start: Start, status: int
) -> None:
    async def no_content(request: Request) -> Response:
        if request.path == "/next":
            return Response(200, b"next")
        return Response(status, b"a body the status cannot have")

    server = await start(no_content)
    client = await Client.connect(server.port)
    client.send(GET + get("/next"))
    answer = await client.answer()
    after = await client.answer()
    assert answer.status == status and "content-length" not in answer.headers
    assert (after.status, after.body) == (200, b"next")


@pytest.mark.parametrize(
    "name, value",
    [
        ("x-a", "1\r\nset-cookie: injected=1"),
        ("x-a", "1\nset-cookie: injected=1"),
        ("x-a", "1\rset-cookie: injected=1"),
        ("x-a\r\nset-cookie: injected=1\r\nx-b", "1"),
    ],
)
async def test_a_header_with_cr_or_lf_is_never_written_and_the_answer_is_500(
    start: Start, name: str, value: str
) -> None:
    async def injected(request: Request) -> Response:
        return Response(200, b"ok", [("content-type", "text/plain"), (name, value)])

    server = await start(injected)
    client = await Client.connect(server.port)
    client.send(GET)
    answer = await client.answer()
    assert_problem(answer, 500)
    assert b"injected" not in answer.head


async def test_a_head_request_whose_answer_is_refused_gets_no_body(start: Start) -> None:
    async def injected(request: Request) -> Response:
        if request.method == "HEAD":
            return Response(200, b"hello", [("x-a", "1\r\nset-cookie: injected=1")])
        return Response(200, b"hello")

    server = await start(injected)
    client = await Client.connect(server.port)
    client.send(b"HEAD / HTTP/1.1\r\nhost: test\r\n\r\n" + GET)
    head = await client.answer(head_only=True)
    answer = await client.answer()
    assert head.status == 500
    assert (answer.status, answer.body) == (200, b"hello")


@pytest.mark.parametrize("status", [100, 101, 99, 1000])
async def test_a_status_that_cannot_end_an_exchange_is_answered_500(
    start: Start, status: int
) -> None:
    async def interim(request: Request) -> Response:
        return Response(200, b"next") if request.path == "/next" else Response(status, b"x")

    server = await start(interim)
    client = await Client.connect(server.port)
    client.send(GET + get("/next"))
    answer = await client.answer()
    after = await client.answer()
    assert_problem(answer, 500)
    assert (after.status, after.body) == (200, b"next")


async def test_a_handler_raising_cancelled_error_gets_its_connection_closed(
    start: Start,
) -> None:
    async def cancelled(request: Request) -> Response:
        raise asyncio.CancelledError  # e.g. an awaited task someone else cancelled

    server = await start(cancelled)
    client = await Client.connect(server.port)
    client.send(GET + get("/next"))  # neither can be answered: no answer may come first
    assert await client.closed_by_server() == b""


async def _fails_while_waiting(request: Request) -> Response:
    raise RuntimeError("secret internals")


def _fails_before_waiting(request: Request) -> Response:
    raise RuntimeError("secret internals")  # a stage of the user's own, before any await


@pytest.mark.parametrize(
    "fail", [_fails_while_waiting, _fails_before_waiting], ids=["while", "before waiting"]
)
async def test_a_handler_exception_is_answered_500_problem_without_a_trace(
    start: Start, caplog: pytest.LogCaptureFixture, fail: Handle
) -> None:
    server = await start(fail)
    client = await Client.connect(server.port)
    client.send(GET)
    answer = await client.answer()
    assert_problem(answer, 500)
    assert b"secret" not in answer.body and b"RuntimeError" not in answer.body
    assert "secret internals" in caplog.text  # logged for the operator instead
    client.send(GET)  # the connection goes on
    assert_problem(await client.answer(), 500)


def _named_then_fails_before_waiting(request: Request) -> Response:
    request.request_id = "named-0000001"  # as the request_id stage does
    raise RuntimeError("secret internals")


async def _named_then_fails_while_waiting(request: Request) -> Response:
    return _named_then_fails_before_waiting(request)


async def _named_then_unwritable(request: Request) -> Response:
    request.request_id = "named-0000001"
    return Response(200, b"ok", [("x-a", "1\r\nset-cookie: injected=1")])


@pytest.mark.parametrize(
    "fail",
    [_named_then_fails_before_waiting, _named_then_fails_while_waiting, _named_then_unwritable],
    ids=["raising before waiting", "raising while waiting", "unwritable answer"],
)
async def test_the_servers_500_names_the_request_id_the_pipeline_gave(
    start: Start, fail: Handle
) -> None:
    server = await start(fail)
    client = await Client.connect(server.port)
    client.send(GET)
    answer = await client.answer()
    assert_problem(answer, 500)
    assert json.loads(answer.body)["request_id"] == "named-0000001"
    assert answer.headers["x-request-id"] == "named-0000001"


async def test_an_upgrade_request_is_answered_as_plain_http_and_closed(start: Start) -> None:
    seen = Seen()
    server = await start(seen)
    client = await Client.connect(server.port)
    client.send(
        get(
            "/ws",
            "connection: Upgrade",
            "upgrade: websocket",
            "sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==",
            "sec-websocket-version: 13",
        )
        + b"\x81\x85not http"
    )
    answer = await client.answer()
    assert (answer.status, answer.body, answer.headers["connection"]) == (200, b"ok", "close")
    assert await client.closed_by_server() == b""
    assert [r.path for r in seen.requests] == ["/ws"]


# -- admission ------------------------------------------------------------------------------


async def _queued(listener: socket.socket, n: int, request: bytes) -> list[socket.socket]:
    """``n`` clients connected by the kernel and queued for accept before the server runs,
    each having sent ``request``."""
    loop = asyncio.get_running_loop()
    clients = []
    for _ in range(n):
        sock = socket.socket()
        sock.setblocking(False)
        await loop.sock_connect(sock, listener.getsockname())
        await loop.sock_sendall(sock, request)
        clients.append(sock)
    return clients


async def test_connections_waiting_to_be_accepted_are_all_taken_in_one_wake_up(
    start: Start,
) -> None:
    loop = asyncio.get_running_loop()
    listener = socket.create_server(("127.0.0.1", 0), backlog=16)
    clients = await _queued(listener, 5, get("/", "connection: close"))
    server = await start(ok, sock=listener)
    for sock in clients:
        async with asyncio.timeout(TIMEOUT_S):
            assert (await loop.sock_recv(sock, 4096)).startswith(b"HTTP/1.1 200 ")
        sock.close()
    assert (server.accept_wakeups, server.accepted) == (1, 5)


async def test_connections_queued_while_not_admitting_are_each_refused_and_closed(
    start: Start,
) -> None:
    loop = asyncio.get_running_loop()
    listener = socket.create_server(("127.0.0.1", 0), backlog=16)
    descriptors = len(os.listdir("/proc/self/fd"))
    clients = await _queued(listener, 5, get("/"))
    server = await start(ok, sock=listener, admitting=lambda pending: False)
    answers = []
    for sock in clients:
        async with asyncio.timeout(TIMEOUT_S):
            answer = b""
            while chunk := await loop.sock_recv(sock, 4096):  # read to the server's close
                answer += chunk
        answers.append(answer)
        sock.close()
    assert all(a.startswith(b"HTTP/1.1 503 ") for a in answers)
    assert len(set(answers)) <= 2  # the same bytes, but for a date that may have turned
    assert (server.accept_wakeups, server.turned_away) == (1, 5)
    assert len(os.listdir("/proc/self/fd")) == descriptors  # each refused one closed


_C_SOCKET = socket.socket.__mro__[1]  # _socket.socket, what the server refuses through


class _Recorded:
    """A C-level socket that logs the calls made on it (the transport seam of a refusal)."""

    calls: list[tuple[str, Any]] = []

    def __init__(self, *args: Any) -> None:
        self._sock = _C_SOCKET(*args)

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self._sock, name)

        def call(*args: Any) -> Any:
            self.calls.append((name, args[-1] if args else None))
            return method(*args)

        return call


async def test_a_refusal_sends_its_answer_with_the_fin_before_closing(
    start: Start, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Bytes arriving between the read and the close make the close a reset, which drops
    # whatever is still unsent: the answer, held back for the FIN, must be out by then.
    monkeypatch.setattr(http1, "_socket", types.SimpleNamespace(socket=_Recorded))
    monkeypatch.setattr(_Recorded, "calls", [])
    loop = asyncio.get_running_loop()
    listener = socket.create_server(("127.0.0.1", 0), backlog=16)
    (client,) = await _queued(listener, 1, get("/"))
    await start(ok, sock=listener, admitting=lambda pending: False)
    answer = b""
    async with asyncio.timeout(TIMEOUT_S):
        while chunk := await loop.sock_recv(client, 4096):  # to the end, not a reset
            answer += chunk
    client.close()
    assert answer.startswith(b"HTTP/1.1 503 ")
    names = [name for name, _ in _Recorded.calls]
    assert names == ["send", "recv_into", "shutdown", "close"]
    assert _Recorded.calls[0][1] & socket.MSG_MORE  # held back for the FIN


async def test_admission_is_asked_with_the_connections_accepted_earlier_and_not_yet_served(
    start: Start,
) -> None:
    loop = asyncio.get_running_loop()
    listener = socket.create_server(("127.0.0.1", 0), backlog=16)
    clients = await _queued(listener, 4, get("/", "connection: close"))
    asked: list[int] = []

    def admitting(pending: int) -> bool:  # room for two new connections in one wake-up
        asked.append(pending)
        return pending < 2

    server = await start(ok, sock=listener, admitting=admitting)
    statuses = []
    for sock in clients:
        async with asyncio.timeout(TIMEOUT_S):
            statuses.append((await loop.sock_recv(sock, 4096))[9:12])
        sock.close()
    assert asked == [0, 1, 2, 2]
    assert statuses == [b"200", b"200", b"503", b"503"]
    assert (server.accept_wakeups, server.turned_away) == (1, 2)


async def until(done: Callable[[], bool], turns: int = 10_000) -> None:
    """Let the loop run (at most ``turns`` turns) until ``done()`` holds: no timed sleep."""
    for _ in range(turns):
        if done():
            return
        await asyncio.sleep(0)  # one turn of the loop
    raise AssertionError("the condition never held")


async def test_a_connection_made_whose_request_has_not_started_counts_as_pending(
    start: Start,
) -> None:
    asked: list[int] = []

    def admitting(pending: int) -> bool:
        asked.append(pending)
        return True

    server = await start(ok, admitting=admitting)
    idle = await Client.connect(server.port)  # made, its request not sent yet
    await until(lambda: len(server.connections) == 1 and server.pending == 1)
    second = await Client.connect(server.port)
    second.send(get("/"))
    assert (await second.answer()).status == 200
    idle.send(get("/"))
    assert (await idle.answer()).status == 200
    assert asked == [0, 1]
    assert server.pending == 0


async def test_only_the_first_request_on_a_connection_is_marked_first_on_it(start: Start) -> None:
    seen = Seen()
    server = await start(seen)
    client = await Client.connect(server.port)
    client.send(get("/one"))
    assert (await client.answer()).status == 200
    client.send(get("/two"))
    assert (await client.answer()).status == 200
    assert [r.first_on_connection for r in seen.requests] == [True, False]


async def test_a_connection_closed_before_its_first_request_is_no_longer_pending(
    start: Start,
) -> None:
    server = await start(ok)
    gone = await Client.connect(server.port)
    await until(lambda: server.pending == 1 and len(server.connections) == 1)
    assert gone.transport is not None
    gone.transport.close()
    await until(lambda: not server.connections)
    assert server.pending == 0


async def test_a_request_starting_after_the_accept_interval_accepts_the_waiting_connections(
    start: Start, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(http1, "ACCEPT_EVERY_S", 0.0)  # every request start is due to accept
    loop = asyncio.get_running_loop()
    listener = socket.create_server(("127.0.0.1", 0), backlog=16)
    port = listener.getsockname()[1]
    newcomers: list[socket.socket] = []
    accepted_at: dict[str, int] = {}
    servers: list[Http1Server] = []

    def handle(request: Request) -> Response:  # answers at once: both run in one turn
        accepted_at[request.path] = servers[0].accepted
        if request.path == "/first":  # queued by the kernel, the listener not polled since
            newcomers.append(socket.create_connection(("127.0.0.1", port)))
        return Response(200, b"ok")

    clients = []
    for _ in range(2):  # two waiting in one wake-up: connections arrive faster than turns
        sock = socket.socket()
        sock.setblocking(False)
        await loop.sock_connect(sock, ("127.0.0.1", port))
        clients.append(sock)
    # One read: the second request starts after the first, in the same turn.
    await loop.sock_sendall(clients[0], get("/first") + get("/second"))
    servers.append(await start(handle, sock=listener))
    async with asyncio.timeout(TIMEOUT_S):
        answers = b""
        while answers.count(b"HTTP/1.1 200 ") < 2:
            answers += await loop.sock_recv(clients[0], 4096)
    assert accepted_at == {"/first": 2, "/second": 3}
    for sock in [*clients, *newcomers]:
        sock.close()


async def test_connections_arriving_one_per_wake_up_leave_requests_to_accept_nothing(
    start: Start,
) -> None:
    server = await start(ok)
    client = await Client.connect(server.port)
    client.send(get("/"))
    assert (await client.answer()).status == 200
    assert (server.accepted, server.accept_due) == (1, math.inf)  # no accept per request


async def test_a_connection_over_the_cap_is_answered_503_with_retry_after_and_closed(
    start: Start,
) -> None:
    seen = Seen()
    server = await start(seen, max_connections=1, retry_after_s=2)
    first = await Client.connect(server.port)
    first.send(get("/first"))
    assert (await first.answer()).status == 200  # kept alive: the worker is at its cap
    second = await Client.connect(server.port)
    second.send(get("/second"))
    answer = await second.answer()
    assert_problem(answer, 503)
    assert answer.headers["retry-after"] == "2"
    assert answer.headers["connection"] == "close"
    assert await second.closed_by_server() == b""
    assert [r.path for r in seen.requests] == ["/first"]
    assert server.turned_away == 1


async def test_a_connection_accepted_while_not_admitting_is_answered_503_and_closed(
    start: Start,
) -> None:
    seen = Seen()
    admitting = [False]
    server = await start(seen, retry_after_s=3, admitting=lambda pending: admitting[0])
    refused = await Client.connect(server.port)
    refused.send(get("/refused"))
    answer = await refused.answer()
    assert_problem(answer, 503)
    assert (answer.headers["retry-after"], answer.headers["connection"]) == ("3", "close")
    assert await refused.closed_by_server() == b""
    admitting[0] = True
    served = await Client.connect(server.port)
    served.send(get("/served"))
    assert (await served.answer()).status == 200
    assert [r.path for r in seen.requests] == ["/served"]
    assert server.turned_away == 1


async def test_a_connection_is_served_again_once_one_below_the_cap_closed(start: Start) -> None:
    server = await start(ok, max_connections=1)
    first = await Client.connect(server.port)
    first.send(get("/", "connection: close"))
    assert (await first.answer()).status == 200
    await first.closed_by_server()
    second = await Client.connect(server.port)
    second.send(get("/"))
    assert (await second.answer()).status == 200


# -- shedding a request as its head is parsed ------------------------------------------------


class Shedding:
    """``settings.shedding``: says yes while ``on`` (or for the next ``times`` asks), and
    counts how often it was asked."""

    def __init__(self, on: bool = False) -> None:
        self.on = on
        self.times = 0
        self.asked = 0

    def __call__(self) -> bool:
        self.asked += 1
        if self.times:
            self.times -= 1
            return True
        return self.on


async def _served_then_shedding(start: Start, **settings: Any) -> tuple[Seen, Shedding, Client]:
    """A connection whose first request was served, and a server shedding from then on."""
    seen, shedding = Seen(), Shedding()
    server = await start(seen, shedding=shedding, **settings)
    client = await Client.connect(server.port)
    client.send(get("/first"))
    assert (await client.answer()).status == 200
    shedding.on = True
    return seen, shedding, client


async def test_a_request_while_shedding_is_answered_503_with_retry_after_unseen(
    start: Start,
) -> None:
    seen, _, client = await _served_then_shedding(start, retry_after_s=4)
    client.send(get("/shed"))
    answer = await client.answer()
    assert_problem(answer, 503)
    assert answer.headers["retry-after"] == "4"
    assert "connection" not in answer.headers  # kept alive
    assert [r.path for r in seen.requests] == ["/first"]


async def test_a_request_refused_while_shedding_gets_the_bytes_made_for_it(start: Start) -> None:
    shedding = Shedding()
    server = await start(ok, shedding=shedding)
    client = await Client.connect(server.port)
    client.send(GET)
    await client.answer()
    shedding.on = True
    client.send(GET)
    await client.answer()  # the whole answer has arrived
    client.send(GET)
    expected = server.refusal(server.overloaded, keep_alive=True)
    async with asyncio.timeout(TIMEOUT_S):
        while len(client.buffer) < len(expected):
            await client._changes()
    # The date line may have ticked between the two: the rest is the same bytes.
    undated = re.compile(rb"\r\ndate: [^\r]*")
    assert undated.sub(b"", bytes(client.buffer)) == undated.sub(b"", expected)
    assert server.shed == 2


async def test_a_connection_stays_open_after_a_request_refused_while_shedding(
    start: Start,
) -> None:
    seen, shedding, client = await _served_then_shedding(start)
    client.send(get("/shed"))
    assert (await client.answer()).status == 503
    shedding.on = False
    client.send(get("/next"))
    answer = await client.answer()
    assert (answer.status, answer.body) == (200, b"ok")
    assert [r.path for r in seen.requests] == ["/first", "/next"]


async def test_a_request_pipelined_after_one_refused_while_shedding_is_answered_after_it(
    start: Start,
) -> None:
    seen, shedding, client = await _served_then_shedding(start)
    shedding.on, shedding.times = False, 1  # the next request only
    client.send(get("/shed") + get("/next"))
    assert (await client.answer()).status == 503
    assert (await client.answer()).status == 200
    assert [r.path for r in seen.requests] == ["/first", "/next"]


async def test_a_request_with_a_body_refused_while_shedding_closes_its_connection_unread(
    start: Start,
) -> None:
    seen, _, client = await _served_then_shedding(start)
    post = b"POST /shed HTTP/1.1\r\nhost: test\r\ncontent-length: 5\r\n\r\n"
    client.send(post + b"hello" + get("/after"))
    answer = await client.answer()
    assert_problem(answer, 503)
    assert answer.headers["connection"] == "close"
    assert await client.closed_by_server() == b""  # nothing for /after
    assert [r.path for r in seen.requests] == ["/first"]


async def test_a_head_refused_while_shedding_gets_the_head_alone_and_stays_open(
    start: Start,
) -> None:
    seen, shedding, client = await _served_then_shedding(start)
    client.send(b"HEAD /shed HTTP/1.1\r\nhost: test\r\n\r\n")
    answer = await client.answer(head_only=True)
    assert (answer.status, answer.body) == (503, b"")
    assert int(answer.headers["content-length"]) > 0  # what a GET's answer would carry
    shedding.on = False
    client.send(get("/next"))
    assert (await client.answer()).body == b"ok"  # no stray body before it
    assert [r.path for r in seen.requests] == ["/first", "/next"]


async def test_an_http10_request_refused_while_shedding_closes_its_connection(
    start: Start,
) -> None:
    _, _, client = await _served_then_shedding(start)
    client.send(b"GET /shed HTTP/1.0\r\n\r\n")
    answer = await client.answer()
    assert (answer.status, answer.headers["connection"]) == (503, "close")
    assert await client.closed_by_server() == b""


async def test_an_upgrade_refused_while_shedding_closes_its_connection(start: Start) -> None:
    seen, _, client = await _served_then_shedding(start)
    client.send(get("/ws", "connection: upgrade", "upgrade: websocket") + b"\x81\x00")
    answer = await client.answer()
    assert (answer.status, answer.headers["connection"]) == (503, "close")
    assert await client.closed_by_server() == b""
    assert [r.path for r in seen.requests] == ["/first"]


async def test_a_connections_first_request_is_not_asked_about_shedding(start: Start) -> None:
    shedding = Shedding(on=True)
    server = await start(ok, shedding=shedding)
    client = await Client.connect(server.port)
    client.send(GET)
    assert (await client.answer()).status == 200  # admitted at accept: served
    assert shedding.asked == 0


async def test_a_request_behind_an_unanswered_one_is_left_to_the_pipeline(start: Start) -> None:
    held, shedding = Held(), Shedding()
    server = await start(held, shedding=shedding)
    client = await Client.connect(server.port)
    client.send(GET)
    await client.answer()
    client.send(get("/slow"))
    await wait_for(held.started)
    asked = shedding.asked
    shedding.on = True
    client.send(get("/next"))
    # /next parsed and queued behind /slow:
    await until(lambda: any(len(c._queue) == 2 for c in server.connections))  # type: ignore[attr-defined]
    held.release.set()
    assert [(await client.answer()).status for _ in range(2)] == [200, 200]
    assert shedding.asked == asked  # /next waited behind /slow: the pipeline decides for it
    assert server.shed == 0


async def test_a_lone_head_refused_while_shedding_never_reaches_the_header_callbacks(
    start: Start, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen, shedding = Seen(), Shedding()
    server = await start(seen, shedding=shedding)
    called: list[str] = []
    for name in ("on_message_begin", "on_url", "on_header", "on_headers_complete"):
        original = getattr(http1._Connection, name)

        def spy(self: Any, *args: Any, _name: str = name, _original: Any = original) -> Any:
            called.append(_name)
            return _original(self, *args)

        monkeypatch.setattr(http1._Connection, name, spy)
    client = await Client.connect(server.port)  # its parser takes the spies as it is made
    client.send(get("/first"))
    assert (await client.answer()).status == 200
    shedding.on = True
    del called[:]
    client.send(get("/shed", "accept: */*", "user-agent: test"))
    answer = await client.answer()
    assert (answer.status, "connection" in answer.headers) == (503, False)  # kept alive
    assert called == []  # read with the lean parser: no call per field, nor for the head
    assert [r.path for r in seen.requests] == ["/first"]


async def _lean_refusing(
    start: Start, monkeypatch: pytest.MonkeyPatch
) -> tuple[Seen, Shedding, Client, list[bytes]]:
    """``_served_then_shedding``, and the reads refused with the lean parser, as they come."""
    lean: list[bytes] = []
    shed_lean = http1._Connection._shed_lean

    def spy(self: http1._Connection, data: bytes) -> None:
        lean.append(data)
        shed_lean(self, data)

    monkeypatch.setattr(http1._Connection, "_shed_lean", spy)
    seen, shedding, client = await _served_then_shedding(start)
    return seen, shedding, client, lean


async def test_requests_refused_lean_then_served_are_framed_as_sent(
    start: Start, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen, shedding, client, lean = await _lean_refusing(start, monkeypatch)
    for n in range(2):
        client.send(get(f"/shed{n}"))
        assert (await client.answer()).status == 503
    shedding.on = False
    client.send(get("/a") + get("/b"))  # pipelined: the full parser picks up after the lean one
    assert [(await client.answer()).status for _ in range(2)] == [200, 200]
    assert [r.path for r in seen.requests] == ["/first", "/a", "/b"]
    assert len(lean) == 2  # both refused with the lean parser


async def test_a_head_split_across_reads_while_shedding_is_answered_503_and_stays_open(
    start: Start,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen, shedding, client, lean = await _lean_refusing(start, monkeypatch)
    asked = shedding.asked
    client.send(b"GET /shed HTTP/1.1\r\nhost: te")
    await until(lambda: shedding.asked > asked)  # its first part read and asked about
    client.send(b"st\r\n\r\n")
    answer = await client.answer()
    assert (answer.status, "connection" in answer.headers) == (503, False)
    assert shedding.asked == asked + 1  # asked once, as it began
    shedding.on = False
    client.send(get("/next"))
    assert (await client.answer()).status == 200
    assert [r.path for r in seen.requests] == ["/first", "/next"]
    assert lean == []  # not a lone head: the full parser's


@pytest.mark.parametrize(
    "head",
    [
        b"POST /shed HTTP/1.1\r\nhost: test\r\ncontent-length: 5\r\n\r\n",  # its body unread
        get("/ws", "connection: upgrade", "upgrade: websocket"),  # then maybe not HTTP
        get("/shed", "connection: close"),
    ],
    ids=["body", "upgrade", "close"],
)
async def test_a_lone_head_the_connection_cannot_outlive_refused_lean_closes_it(
    start: Start, monkeypatch: pytest.MonkeyPatch, head: bytes
) -> None:
    seen, _, client, lean = await _lean_refusing(start, monkeypatch)
    client.send(head)
    answer = await client.answer()
    assert (answer.status, answer.headers["connection"]) == (503, "close")
    assert await client.closed_by_server() == b""
    assert [r.path for r in seen.requests] == ["/first"]
    assert len(lean) == 1  # refused with the lean parser


async def test_a_malformed_lone_head_while_shedding_is_answered_400_and_closed(
    start: Start,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, _, client, lean = await _lean_refusing(start, monkeypatch)
    client.send(b"GET /shed HTTP/1.1\r\nhost: test\r\nbad header\r\n\r\n")
    answer = await client.answer()
    assert_problem(answer, 400)
    assert await client.closed_by_server() == b""
    assert len(lean) == 1  # refused with the lean parser


# -- close(grace_s) -------------------------------------------------------------------------


async def _busy_and_idle(start: Start) -> tuple[Http1Server, Held, Client, Client]:
    """A server with one connection whose handler is held and one idle kept-alive one."""
    held = Held()
    server = await start(held)
    idle = await Client.connect(server.port)
    idle.send(GET)
    await idle.answer()
    busy = await Client.connect(server.port)
    busy.send(get("/slow"))
    await wait_for(held.started)
    return server, held, busy, idle


async def test_close_lets_an_answer_in_progress_finish(start: Start) -> None:
    server, held, busy, idle = await _busy_and_idle(start)
    closing = asyncio.ensure_future(server.close(grace_s=5))
    await idle.closed_by_server()  # the server is closing
    held.release.set()
    answer = await busy.answer()
    assert (answer.status, answer.body, answer.headers["connection"]) == (200, b"/slow", "close")
    assert await busy.closed_by_server() == b""
    async with asyncio.timeout(TIMEOUT_S):
        await closing


async def test_close_closes_idle_connections_at_once(start: Start) -> None:
    server, held, _, idle = await _busy_and_idle(start)
    closing = asyncio.ensure_future(server.close(grace_s=30))
    assert await idle.closed_by_server() == b""  # within TIMEOUT_S, not after the grace
    assert not closing.done()  # still waiting for the answer in progress
    held.release.set()
    async with asyncio.timeout(TIMEOUT_S):
        await closing


async def test_close_refuses_new_connections_while_answers_finish(start: Start) -> None:
    server, held, _, idle = await _busy_and_idle(start)
    port = server.port
    closing = asyncio.ensure_future(server.close(grace_s=30))
    await idle.closed_by_server()
    with pytest.raises(ConnectionRefusedError):
        await Client.connect(port)
    held.release.set()
    async with asyncio.timeout(TIMEOUT_S):
        await closing


async def test_with_drain_idle_s_a_request_on_an_idle_connection_is_answered_during_close(
    start: Start,
) -> None:
    server = await start(ok, drain_idle_s=30)
    idle = await Client.connect(server.port)
    idle.send(GET)
    await idle.answer()
    closing = asyncio.ensure_future(server.close(grace_s=30))
    await asyncio.sleep(0)  # close() has begun: the listener is shut
    assert server.draining
    idle.send(GET)  # the next request, crossing the start of the drain
    answer = await idle.answer()
    assert (answer.status, answer.headers["connection"]) == (200, "close")
    assert await idle.closed_by_server() == b""
    async with asyncio.timeout(TIMEOUT_S):
        await closing


async def test_with_drain_idle_s_an_idle_connection_is_closed_once_it_has_passed(
    start: Start,
) -> None:
    server = await start(ok, drain_idle_s=0.1)
    idle = await Client.connect(server.port)
    idle.send(GET)
    await idle.answer()
    async with asyncio.timeout(TIMEOUT_S):
        await server.close(grace_s=30)  # not the grace: the idle connection went at 0.1 s
    assert await idle.closed_by_server() == b""


async def test_close_aborts_a_stuck_handler_connection_after_the_grace(start: Start) -> None:
    server, held, busy, _ = await _busy_and_idle(start)
    async with asyncio.timeout(TIMEOUT_S):
        await server.close(grace_s=0.2)
    assert await busy.closed_by_server() == b""  # no answer: it was not finished
    held.release.set()
    async with asyncio.timeout(TIMEOUT_S):
        await held.tasks[0]  # the handler finishing later, with nowhere to answer, is quiet


async def test_an_answer_the_pipeline_has_at_once_is_written_without_a_task(start: Start) -> None:
    tasks: list[asyncio.Task[Any] | None] = []

    def at_once(request: Request) -> Response:
        tasks.append(asyncio.current_task())
        return Response(200, request.path.encode())

    server = await start(at_once)
    client = await Client.connect(server.port)
    client.send(get("/a") + get("/b") + get("/c"))  # pipelined: answered in order
    bodies = [(await client.answer()).body for _ in range(3)]
    assert bodies == [b"/a", b"/b", b"/c"]
    assert tasks == [None, None, None]


_SEEN: contextvars.ContextVar[str | None] = contextvars.ContextVar("seen", default=None)


async def test_what_the_pipeline_sets_before_waiting_it_sees_and_resets_after(
    start: Start,
) -> None:
    before: list[str | None] = []

    def sets_then_waits(request: Request) -> Awaitable[Response]:
        before.append(_SEEN.get())  # each request starts from a clean context
        token = _SEEN.set(request.path)

        async def rest() -> Response:
            await asyncio.sleep(0)  # a real wait: the rest runs in the server's task
            seen = _SEEN.get()
            _SEEN.reset(token)  # raises unless this is the context it was set in
            return Response(200, (seen or "").encode())

        return rest()

    server = await start(sets_then_waits)
    client = await Client.connect(server.port)
    for path in ("/one", "/two"):
        client.send(get(path))
        assert (await client.answer()).body == path.encode()
    assert before == [None, None]
