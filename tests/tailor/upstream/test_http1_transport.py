"""The in-loop HTTP/1.1 transport against real sockets on 127.0.0.1.

Most tests talk to a raw asyncio server that writes exact bytes, so framing (chunked, close-
delimited, interim answers), connection reuse and the stale keep-alive race can be scripted
byte for byte; the rest use the scripted aiohttp upstream. Every test runs on asyncio's loop
and on uvloop (workers run on uvloop, whose transports differ): see ``conftest.py``.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from upstreams import ScriptedUpstream, closed_port

from tailor.errors import UpstreamTimeout, UpstreamUnavailable
from tailor.upstream.http1_transport import Http1Transport
from tailor.upstream.transport import UpstreamRequest
from waveform.certs import ensure_demo_certs

Handler = Callable[["RawServer", asyncio.StreamReader, asyncio.StreamWriter, int], Awaitable[None]]

OK = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}"


class RawServer:
    """A TCP server on 127.0.0.1 whose handler gets each connection and its ordinal."""

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self.connections = 0
        self.requests: list[bytes] = []
        self.closed_by_client = asyncio.Event()
        self.arrived = asyncio.Event()  # set at each request read
        self._server: asyncio.Server | None = None

    async def start(self, ssl_context: ssl.SSLContext | None = None) -> RawServer:
        self._server = await asyncio.start_server(self._on_connect, "127.0.0.1", 0, ssl=ssl_context)
        return self

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    def url(self, path: str = "/", scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    async def read_request(self, reader: asyncio.StreamReader) -> bytes:
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        body = await reader.readexactly(length) if length else b""
        self.requests.append(head + body)
        self.arrived.set()
        return head + body

    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await self._handler(self, reader, writer, self.connections)
        except (asyncio.IncompleteReadError, ConnectionError):
            self.closed_by_client.set()
        finally:
            writer.close()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()


@pytest.fixture
async def raw() -> AsyncIterator[Callable[[Handler], Awaitable[RawServer]]]:
    servers: list[RawServer] = []

    async def start(handler: Handler) -> RawServer:
        server = await RawServer(handler).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.close()


@pytest.fixture
async def transport() -> AsyncIterator[Http1Transport]:
    transport = Http1Transport()
    yield transport
    await transport.aclose()


def get(url: str, timeout_s: float = 2.0, **fields: object) -> UpstreamRequest:
    return UpstreamRequest("svc", fields.pop("method", "GET"), url, [], timeout_s, **fields)  # type: ignore[arg-type]


def answering(*responses: bytes) -> Handler:
    """Each connection answers successive requests with ``responses`` in turn, then waits."""

    async def handler(
        server: RawServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int
    ) -> None:
        for response in responses:
            await server.read_request(reader)
            writer.write(response)
            await writer.drain()
        await reader.read()  # until the client closes

    return handler


# -- the exchange ---------------------------------------------------------------------------


async def test_sends_the_request_and_reads_status_headers_and_body(
    transport: Http1Transport, upstream: ScriptedUpstream
) -> None:
    upstream.script("GET", "/users/u1", json={"id": "u1"}, headers={"ETag": '"v1"'})
    response = await transport.send(
        UpstreamRequest("svc", "GET", f"{upstream.url}/users/u1", [("x-request-id", "r1")], 2.0)
    )
    assert (response.status, response.body) == (200, b'{"id": "u1"}')
    assert response.headers["etag"] == '"v1"'
    assert upstream.received("/users/u1")[0].headers["x-request-id"] == "r1"


async def test_repeated_headers_are_joined_and_names_read_in_any_case(
    transport: Http1Transport, raw: Callable[[Handler], Awaitable[RawServer]]
) -> None:
    answer = b"HTTP/1.1 200 OK\r\nX-Tag: a\r\ncontent-length: 0\r\nx-tag: b\r\n\r\n"
    server = await raw(answering(answer))
    headers = (await transport.send(get(server.url()))).headers
    assert (headers["x-tag"], headers["X-Tag"], headers["content-length"]) == ("a, b", "a, b", "0")


async def test_one_header_asked_for_is_found_in_any_case_trimmed_or_absent(
    transport: Http1Transport, raw: Callable[[Handler], Awaitable[RawServer]]
) -> None:
    answer = b"HTTP/1.1 200 OK\r\nContent-Type:  application/proto \r\ncontent-length: 0\r\n\r\n"
    server = await raw(answering(answer))
    headers = (await transport.send(get(server.url()))).headers
    assert headers.get("content-type") == "application/proto"
    assert headers.get("x-missing", "none") == "none"


async def test_a_post_carries_its_body_and_length(
    transport: Http1Transport, upstream: ScriptedUpstream
) -> None:
    seen: list[str] = []

    def record(received: object) -> object:
        from upstreams import Script

        seen.append(received.headers["content-length"])
        return Script(json={"ok": True})

    upstream.script("POST", "/token", record)
    response = await transport.send(get(f"{upstream.url}/token", method="POST", body=b"a=1&b=2"))
    assert response.status == 200
    assert seen == ["7"]


async def test_reuses_one_keep_alive_connection_for_sequential_calls(
    transport: Http1Transport, raw: Callable[[Handler], Awaitable[RawServer]]
) -> None:
    server = await raw(answering(OK, OK, OK))
    for _ in range(3):
        assert (await transport.send(get(server.url("/a")))).status == 200
    assert server.connections == 1


async def test_a_chunked_answer_is_read_whole(
    transport: Http1Transport, raw: Callable[[Handler], Awaitable[RawServer]]
) -> None:
    chunked = (
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
    )
    server = await raw(answering(chunked))
    assert (await transport.send(get(server.url()))).body == b"abcde"


async def test_an_answer_delimited_by_the_end_of_the_connection_is_read_whole(
    transport: Http1Transport, raw: Callable[[Handler], Awaitable[RawServer]]
) -> None:
    async def handler(
        server: RawServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int
    ) -> None:
        await server.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nuntil the end")
        await writer.drain()

    server = await raw(handler)
    assert (await transport.send(get(server.url()))).body == b"until the end"


async def test_an_interim_100_answer_is_skipped(
    transport: Http1Transport, raw: Callable[[Handler], Awaitable[RawServer]]
) -> None:
    server = await raw(answering(b"HTTP/1.1 100 Continue\r\n\r\n" + OK))
    response = await transport.send(get(server.url()))
    assert (response.status, response.body) == (200, b"{}")


async def test_a_head_answer_is_complete_without_the_body_its_length_announces(
    transport: Http1Transport, raw: Callable[[Handler], Awaitable[RawServer]]
) -> None:
    server = await raw(answering(b"HTTP/1.1 200 OK\r\ncontent-length: 5000\r\n\r\n"))
    for _ in range(2):  # each on a new connection: the parser stopped mid-message
        response = await transport.send(get(server.url(), method="HEAD", timeout_s=1.0))
        assert (response.status, response.body) == (200, b"")
        assert response.headers["content-length"] == "5000"
    assert server.connections == 2


async def test_a_pooled_connection_the_service_closes_leaves_the_pool(
    transport: Http1Transport, raw: Callable[[Handler], Awaitable[RawServer]]
) -> None:
    async def answer_then_close(
        server: RawServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int
    ) -> None:
        await server.read_request(reader)
        writer.write(OK)
        await writer.drain()  # then the handler ends and the server closes the idle connection

    server = await raw(answer_then_close)
    await transport.send(get(server.url()))
    [origin] = transport._origins.values()
    async with asyncio.timeout(2):
        # Bounded polling: nothing in the transport signals that it saw the close.
        while origin.idle or origin.open:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    assert (await transport.send(get(server.url()))).status == 200


async def test_connection_close_from_the_service_means_a_new_connection_next_time(
    transport: Http1Transport, raw: Callable[[Handler], Awaitable[RawServer]]
) -> None:
    closing = b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\n{}"
    server = await raw(answering(closing))
    for _ in range(2):
        assert (await transport.send(get(server.url()))).status == 200
    assert server.connections == 2


async def test_a_pooled_connection_keeps_nothing_of_its_last_answer(
    transport: Http1Transport, raw: Callable[[Handler], Awaitable[RawServer]]
) -> None:
    big = b"HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\n" + b"x" * 100_000
    server = await raw(answering(big))
    assert len((await transport.send(get(server.url()))).body) == 100_000
    [origin] = transport._origins.values()
    [idle] = origin.idle
    assert (idle._body, idle._seen, idle._head) == ([], None, b"")  # hundreds may be pooled


async def test_an_idle_connection_past_the_idle_timeout_is_not_reused(
    raw: Callable[[Handler], Awaitable[RawServer]],
) -> None:
    transport = Http1Transport(pool_idle_timeout_s=0.0)
    server = await raw(answering(OK, OK))
    try:
        for _ in range(2):
            assert (await transport.send(get(server.url()))).status == 200
    finally:
        await transport.aclose()
    assert server.connections == 2


# -- failures -------------------------------------------------------------------------------


async def test_connection_refused_raises_upstream_unavailable(transport: Http1Transport) -> None:
    with pytest.raises(UpstreamUnavailable):
        await transport.send(get(f"http://127.0.0.1:{closed_port()}/"))


async def test_a_silent_service_raises_upstream_timeout_and_sees_the_connection_end(
    transport: Http1Transport, raw: Callable[[Handler], Awaitable[RawServer]]
) -> None:
    async def silent(
        server: RawServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int
    ) -> None:
        await server.read_request(reader)
        assert await reader.read() == b""  # EOF: the client gave up on this connection
        server.closed_by_client.set()

    server = await raw(silent)
    with pytest.raises(UpstreamTimeout):
        await transport.send(get(server.url(), timeout_s=0.1))
    async with asyncio.timeout(2):
        await server.closed_by_client.wait()


def _silent() -> Handler:
    """Each connection reads its request and never answers."""

    async def handler(
        server: RawServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int
    ) -> None:
        await server.read_request(reader)
        await reader.read()  # until the client closes

    return handler


async def test_a_call_with_a_shorter_timeout_than_one_in_flight_times_out_at_its_own(
    transport: Http1Transport, raw: Callable[[Handler], Awaitable[RawServer]]
) -> None:
    server = await raw(_silent())
    patient = asyncio.ensure_future(transport.send(get(server.url(), timeout_s=10)))
    async with asyncio.timeout(2):
        await server.arrived.wait()
        with pytest.raises(UpstreamTimeout):
            await transport.send(get(server.url(), timeout_s=0.05))
    assert not patient.done()
    patient.cancel()
    with pytest.raises(asyncio.CancelledError):
        await patient


async def test_calls_in_flight_together_each_time_out_at_their_own_deadline(
    transport: Http1Transport, raw: Callable[[Handler], Awaitable[RawServer]]
) -> None:
    server = await raw(_silent())
    loop = asyncio.get_running_loop()
    started = loop.time()

    async def waited(timeout_s: float) -> float:
        with pytest.raises(UpstreamTimeout):
            await transport.send(get(server.url(), timeout_s=timeout_s))
        return loop.time() - started

    async with asyncio.timeout(3):
        later, sooner = await asyncio.gather(waited(0.3), waited(0.05))
    assert sooner < later
    assert later >= 0.29  # not ended early by the timer armed for the other (1 ms rounding)


async def test_a_call_in_flight_when_the_transport_closes_still_times_out(
    transport: Http1Transport, raw: Callable[[Handler], Awaitable[RawServer]]
) -> None:
    server = await raw(_silent())
    call = asyncio.ensure_future(transport.send(get(server.url(), timeout_s=0.2)))
    async with asyncio.timeout(3):
        await server.arrived.wait()
        await transport.aclose()
        with pytest.raises(UpstreamTimeout):
            await call


async def test_a_cancelled_call_aborts_its_request_at_the_service(
    transport: Http1Transport, upstream: ScriptedUpstream
) -> None:
    upstream.script("GET", "/slow", json={}, delay=5.0)
    call = asyncio.ensure_future(transport.send(get(f"{upstream.url}/slow", timeout_s=10)))
    await upstream.wait_for_requests(1)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    [slow] = upstream.received("/slow")
    async with asyncio.timeout(2):
        await slow.done.wait()
    assert slow.cancelled


async def test_a_malformed_answer_raises_upstream_unavailable(
    transport: Http1Transport, raw: Callable[[Handler], Awaitable[RawServer]]
) -> None:
    server = await raw(answering(b"HTTP/1.1 2x0 What\r\n\r\n"))
    with pytest.raises(UpstreamUnavailable, match="malformed"):
        await transport.send(get(server.url()))


async def test_an_answer_over_the_size_limit_raises_upstream_unavailable(
    raw: Callable[[Handler], Awaitable[RawServer]],
) -> None:
    transport = Http1Transport(max_response_bytes=1000)
    big = b"HTTP/1.1 200 OK\r\ncontent-length: 5000\r\n\r\n" + b"x" * 5000
    server = await raw(answering(big))
    try:
        with pytest.raises(UpstreamUnavailable, match="too large"):
            await transport.send(get(server.url()))
    finally:
        await transport.aclose()


def _bytes_past_the_answer(extra: bytes) -> Handler:
    """The first connection answers ``ok`` followed by ``extra`` in the same write, and
    answers a second request on it with ``EVIL!`` (the body the extra head announces). Later
    connections answer ``good``."""

    async def handler(
        server: RawServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int
    ) -> None:
        await server.read_request(reader)
        if n > 1:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ngood")
            await reader.read()
            return
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok" + extra)
        await writer.drain()
        await server.read_request(reader)
        writer.write(b"EVIL!")
        await reader.read()

    return handler


@pytest.mark.parametrize(
    "extra",
    [b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", b"HTTP/1.1 2", b"EVIL"],
    ids=["a stray response head", "the start of a status line", "a body past its length"],
)
async def test_a_connection_with_bytes_past_a_complete_answer_is_never_pooled(
    raw: Callable[[Handler], Awaitable[RawServer]], extra: bytes
) -> None:
    transport = Http1Transport(max_connections=1)
    server = await raw(_bytes_past_the_answer(extra))
    try:
        first = await transport.send(get(server.url()))
        # A POST is never sent twice, so a stale-connection resend cannot hide a reuse.
        second = await transport.send(get(server.url(), method="POST", body=b"{}"))
    finally:
        await transport.aclose()
    assert ((first.status, first.body), (second.status, second.body)) == (
        (200, b"ok"),
        (200, b"good"),
    )
    assert (server.connections, len(server.requests)) == (2, 2)  # sent once, on a new one


def _closes_the_reused_connection_unanswered() -> Handler:
    """The first connection answers once, then reads the next request and closes without a
    byte: the keep-alive race. Later connections answer normally."""

    async def handler(
        server: RawServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int
    ) -> None:
        await server.read_request(reader)
        writer.write(OK)
        await writer.drain()
        if n == 1:
            await server.read_request(reader)
            return  # close unanswered
        await reader.read()

    return handler


async def test_an_idempotent_call_on_a_stale_reused_connection_is_sent_again(
    transport: Http1Transport, raw: Callable[[Handler], Awaitable[RawServer]]
) -> None:
    server = await raw(_closes_the_reused_connection_unanswered())
    assert (await transport.send(get(server.url()))).status == 200
    assert (await transport.send(get(server.url()))).status == 200
    assert server.connections == 2
    assert len(server.requests) == 3  # the second call was sent twice


async def test_a_post_on_a_stale_reused_connection_is_not_sent_again(
    transport: Http1Transport, raw: Callable[[Handler], Awaitable[RawServer]]
) -> None:
    server = await raw(_closes_the_reused_connection_unanswered())
    await transport.send(get(server.url(), method="POST", body=b"{}"))
    with pytest.raises(UpstreamUnavailable):
        await transport.send(get(server.url(), method="POST", body=b"{}"))
    assert len(server.requests) == 2


async def test_a_post_declared_idempotent_on_a_stale_reused_connection_is_sent_again(
    transport: Http1Transport, raw: Callable[[Handler], Awaitable[RawServer]]
) -> None:
    # A read over an RPC wire is a POST that its JSON route's verb makes safe to repeat.
    server = await raw(_closes_the_reused_connection_unanswered())
    await transport.send(get(server.url(), method="POST", body=b"{}", idempotent=True))
    answer = await transport.send(get(server.url(), method="POST", body=b"{}", idempotent=True))
    assert answer.status == 200
    assert len(server.requests) == 3


# -- what is written ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["x-a\r\nx-injected", "x\na", "x\ra", "x\0a"])
async def test_a_header_name_with_a_control_character_is_refused_unsent(
    transport: Http1Transport, upstream: ScriptedUpstream, name: str
) -> None:
    request = UpstreamRequest("svc", "GET", f"{upstream.url}/x", [(name, "v")], 2.0)
    with pytest.raises(UpstreamUnavailable, match="control character"):
        await transport.send(request)
    assert upstream.received() == []


@pytest.mark.parametrize("value", ["a\r\nx-injected: 1", "a\nb", "a\rb", "a\0b"])
async def test_a_header_value_with_a_control_character_is_refused_unsent(
    transport: Http1Transport, upstream: ScriptedUpstream, value: str
) -> None:
    request = UpstreamRequest("svc", "GET", f"{upstream.url}/x", [("x-note", value)], 2.0)
    with pytest.raises(UpstreamUnavailable, match="control character"):
        await transport.send(request)
    assert upstream.received() == []


async def test_a_target_with_spaces_and_line_breaks_is_percent_encoded(
    transport: Http1Transport, raw: Callable[[Handler], Awaitable[RawServer]]
) -> None:
    server = await raw(answering(OK))
    await transport.send(get(server.url("/a b\r\nx: 1/é")))
    assert server.requests[0].startswith(b"GET /a%20b%0D%0Ax:%201/%C3%A9 HTTP/1.1\r\n")


async def test_a_caller_beyond_the_connection_cap_waits_for_a_free_connection(
    raw: Callable[[Handler], Awaitable[RawServer]],
) -> None:
    transport = Http1Transport(max_connections=1)
    server = await raw(answering(OK, OK, OK))
    try:
        answers = await asyncio.gather(*(transport.send(get(server.url())) for _ in range(3)))
    finally:
        await transport.aclose()
    assert [a.status for a in answers] == [200, 200, 200]
    assert server.connections == 1


async def test_waiting_for_a_connection_past_the_timeout_raises_upstream_timeout(
    raw: Callable[[Handler], Awaitable[RawServer]],
) -> None:
    release = asyncio.Event()

    async def slow(
        server: RawServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int
    ) -> None:
        await server.read_request(reader)
        await release.wait()
        writer.write(OK)
        await writer.drain()
        await reader.read()

    transport = Http1Transport(max_connections=1)
    server = await raw(slow)
    try:
        first = asyncio.ensure_future(transport.send(get(server.url(), timeout_s=5)))
        async with asyncio.timeout(2):
            await server.arrived.wait()  # the first call holds the only connection
        with pytest.raises(UpstreamTimeout, match="waiting for a connection"):
            await transport.send(get(server.url(), timeout_s=0.1))
        release.set()
        assert (await first).status == 200
    finally:
        await transport.aclose()


# -- TLS ------------------------------------------------------------------------------------


def _tls_server_context(tmp_path: Path) -> tuple[ssl.SSLContext, Path]:
    certs = ensure_demo_certs(tmp_path / "certs", partners={})
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certs.server.cert, certs.server.key)
    return context, certs.ca.cert


async def test_an_https_upstream_is_reached_over_verified_tls(tmp_path: Path) -> None:
    server_context, ca = _tls_server_context(tmp_path)
    server = RawServer(answering(OK))
    await server.start(server_context)
    transport = Http1Transport(ssl_context=ssl.create_default_context(cafile=str(ca)))
    try:
        url = f"https://localhost:{server.port}/"
        assert (await transport.send(get(url))).status == 200
    finally:
        await transport.aclose()
        await server.close()


async def test_an_https_upstream_with_an_untrusted_certificate_is_refused(tmp_path: Path) -> None:
    server_context, _ = _tls_server_context(tmp_path)
    server = RawServer(answering(OK))
    await server.start(server_context)
    transport = Http1Transport()  # the system trust store does not know the demo CA
    try:
        with pytest.raises(UpstreamUnavailable, match="TLS"):
            await transport.send(get(f"https://localhost:{server.port}/"))
    finally:
        await transport.aclose()
        await server.close()


# -- event loops ----------------------------------------------------------------------------


def test_a_transport_starts_a_new_pool_on_a_new_loop_after_the_old_one_stopped() -> None:
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Answer(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: the first loop leaves a pooled connection

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    transport = Http1Transport()
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    try:
        for _ in range(2):  # each asyncio.run is a new loop; the old one is closed
            assert asyncio.run(transport.send(get(url))).status == 200
    finally:
        server.shutdown()
        server.server_close()
