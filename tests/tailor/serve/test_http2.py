"""tailor's server speaking HTTP/2 (tailor.serve.http2) on real sockets on 127.0.0.1: how a
connection becomes HTTP/2, what reaches the pipeline, the edge's limits and the abuse it ends.
The frame-by-frame rules are test_http2_conformance.py's."""

from __future__ import annotations

import asyncio
import shutil
import socket
import ssl
import subprocess
import uuid
from collections.abc import Awaitable, Callable, Iterator

import hpack
import httpx
import pytest
from h2wire import (
    CONTINUATION,
    END_STREAM,
    ENHANCE_YOUR_CALM,
    HEADERS,
    NO_ERROR,
    PREFACE,
    PROTOCOL_ERROR,
    REFUSED_STREAM,
    REQUEST,
    Served,
    Wire,
    answer,
    raw,
    serving,
)
from hyperframe import frame as F

from tailor import BFF, build_config
from tailor.config import TLS
from tailor.http import Request, Response
from tailor.serve import http2
from tailor.serve.http1 import ServerSettings, tls_context
from waveform.certs import DemoCerts, ensure_demo_certs

POST = [(":method", "POST"), (":scheme", "http"), (":path", "/"), (":authority", "test")]


def path(p: str, method: str = "GET") -> list[tuple[str, str]]:
    return [(":method", method), (":scheme", "http"), (":path", p), (":authority", "test")]


class Gate:
    """A pipeline whose ``/hold`` answers wait until the test opens the gate; what it started
    and what was cancelled are counted."""

    def __init__(self) -> None:
        self.opened: asyncio.Event | None = None
        self.started = 0
        self.cancelled = 0
        self.served: Served | None = None

    def __call__(self, request: Request) -> Response | Awaitable[Response]:
        if request.path == "/hold":
            return self._hold()
        return answer(request)

    async def _hold(self) -> Response:
        if self.opened is None:
            self.opened = asyncio.Event()
        self.started += 1
        try:
            await self.opened.wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        return Response(200, b"held")

    def open(self) -> None:
        assert self.served is not None and self.opened is not None
        self.served.loop.call_soon_threadsafe(self.opened.set)

    def wait_started(self, count: int) -> None:
        assert self.served is not None
        self.served.call(_until(lambda: self.started >= count))


async def _until(condition: Callable[[], bool]) -> None:
    """Turns of the server's loop until ``condition`` holds (what the pipeline did is only
    seen there)."""
    async with asyncio.timeout(3):
        while not condition():  # noqa: ASYNC110 - nothing to wait on: the state is the test's
            await asyncio.sleep(0)


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    with serving(answer) as served:
        yield served


@pytest.fixture
def gated() -> Iterator[tuple[Served, Gate]]:
    gate = Gate()
    with serving(gate, keepalive_timeout_s=1.0) as served:
        gate.served = served
        yield served, gate


# -- how a connection becomes HTTP/2 ---------------------------------------------------------


async def test_http2_with_prior_knowledge_and_http11_share_one_port(served: Served) -> None:
    url = f"http://127.0.0.1:{served.port}/same"
    async with httpx.AsyncClient(http1=False, http2=True) as h2c, httpx.AsyncClient() as h1:
        over_h2, over_h1 = await h2c.get(url), await h1.get(url)
    assert (over_h2.http_version, over_h1.http_version) == ("HTTP/2", "HTTP/1.1")
    assert over_h2.content == over_h1.content == b"answer to /same"
    assert over_h2.headers["content-type"] == over_h1.headers["content-type"]


def test_a_preface_from_a_connection_already_speaking_http11_is_not_http2(
    served: Served,
) -> None:
    with socket.create_connection(("127.0.0.1", served.port), timeout=3) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nhost: t\r\n\r\n")
        assert sock.recv(4096).startswith(b"HTTP/1.1 200")
        sock.sendall(PREFACE)
        assert sock.recv(4096).startswith(b"HTTP/1.1 4")  # parsed as HTTP/1.1 and refused


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> DemoCerts:
    return ensure_demo_certs(tmp_path_factory.mktemp("certs"), {"p-acme": "p-acme"})


@pytest.fixture(scope="module")
def served_tls(certs: DemoCerts) -> Iterator[Served]:
    tls = TLS(
        cert_file=str(certs.server.cert),
        key_file=str(certs.server.key),
        client_ca_file=str(certs.ca.cert),
    )
    with serving(answer, tls=tls_context(tls, http2=True)) as served:
        yield served


def _client_tls(certs: DemoCerts, alpn: list[str]) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(certs.ca.cert))
    acme = certs.clients["p-acme"]
    context.load_cert_chain(str(acme.cert), str(acme.key))
    context.set_alpn_protocols(alpn)
    return context


def test_alpn_h2_over_tls_serves_http2_with_the_client_certificate(
    certs: DemoCerts, served_tls: Served
) -> None:
    with Wire(served_tls.port, tls=_client_tls(certs, ["h2", "http/1.1"])) as wire:
        assert wire.sock.selected_alpn_protocol() == "h2"  # type: ignore[attr-defined]
        wire.send(wire.headers(1))
        headers, body = wire.response(1)
    assert (headers[":status"], body) == ("200", b"answer to /")
    request = served_tls.requests[-1]
    assert request.scheme == "https"
    acme = certs.clients["p-acme"]
    assert request.client_cert == ssl.PEM_cert_to_DER_cert(acme.cert.read_text())


def test_alpn_http11_over_tls_still_serves_http11(certs: DemoCerts, served_tls: Served) -> None:
    context = _client_tls(certs, ["http/1.1"])
    address = ("127.0.0.1", served_tls.port)
    with context.wrap_socket(
        socket.create_connection(address, 3), server_hostname="localhost"
    ) as sock:
        assert sock.selected_alpn_protocol() == "http/1.1"
        sock.sendall(b"GET /one HTTP/1.1\r\nhost: t\r\n\r\n")
        assert sock.recv(4096).startswith(b"HTTP/1.1 200")


def test_a_server_without_http2_offers_only_http11_in_alpn(certs: DemoCerts) -> None:
    tls = TLS(cert_file=str(certs.server.cert), key_file=str(certs.server.key))
    served = Served(answer, ServerSettings(tls=tls_context(tls)))
    try:
        client = ssl.create_default_context(cafile=str(certs.ca.cert))
        client.set_alpn_protocols(["h2", "http/1.1"])
        address = ("127.0.0.1", served.port)
        with client.wrap_socket(
            socket.create_connection(address, 3), server_hostname="localhost"
        ) as sock:
            assert sock.selected_alpn_protocol() == "http/1.1"
    finally:
        served.close()


# -- what reaches the pipeline ---------------------------------------------------------------


def test_authority_becomes_host_and_cookie_crumbs_are_joined(served: Served) -> None:
    with Wire(served.port) as wire:
        wire.send(wire.headers(1, [*REQUEST, ("cookie", "a=1"), ("cookie", "b=2")]))
        wire.response(1)
    request = served.requests[-1]
    assert request.headers["host"] == "test"
    assert request.headers["cookie"] == "a=1; b=2"


def test_the_path_is_decoded_and_the_query_kept(served: Served) -> None:
    with Wire(served.port) as wire:
        wire.send(wire.headers(1, path("/a%20b?x=1&y=2")))
        _, body = wire.response(1)
    assert body == b"answer to /a b"
    assert served.requests[-1].query == {"x": "1", "y": "2"}


def test_an_encoded_slash_in_the_path_is_refused_400(served: Served) -> None:
    before = len(served.requests)
    with Wire(served.port) as wire:
        wire.send(wire.headers(1, path("/a%2Fb")))
        headers, _ = wire.response(1)
    assert headers[":status"] == "400"
    assert len(served.requests) == before


def test_a_body_larger_than_the_stream_window_arrives_whole(served: Served) -> None:
    size = 3 * http2.STREAM_WINDOW
    with Wire(served.port) as wire:
        wire.send(wire.headers(1, POST, end_stream=False))
        sent, window = 0, http2.STREAM_WINDOW
        while sent < size:  # as far as the windows the server gives back allow
            while window == 0:
                frame = wire.read()
                if isinstance(frame, F.WindowUpdateFrame) and frame.stream_id == 1:
                    window += frame.window_increment
            chunk = min(16384, size - sent, window)
            last = sent + chunk == size
            wire.send(F.DataFrame(1, b"x" * chunk, flags=["END_STREAM"] if last else []))
            sent, window = sent + chunk, window - chunk
        _, body = wire.response(1)
    assert body == f"{size} bytes".encode()


def test_the_server_announces_envoys_edge_defaults(served: Served) -> None:
    with Wire(served.port) as wire:
        settings = wire.server_settings
    assert settings[F.SettingsFrame.MAX_CONCURRENT_STREAMS] == 100
    assert settings[F.SettingsFrame.INITIAL_WINDOW_SIZE] == 64 * 1024
    assert settings[F.SettingsFrame.MAX_HEADER_LIST_SIZE] == 64 * 1024
    assert wire.connection_window == 1024 * 1024


def test_the_same_limits_apply_per_stream_as_over_http11() -> None:
    bff = BFF(
        build_config(
            {"name": "limits", "admin": {"enabled": False}, "limits": {"max_body_bytes": 10}}
        )
    )

    @bff.post("/echo", auth=False)
    async def echo(request: Request) -> Response:
        return Response(200, request.body)

    with serving(bff.respond) as served:
        served.loop.call_soon_threadsafe(lambda: bff.startup(admin=False, loop=served.loop))
        wire = Wire(served.port)
        wire.send(wire.headers(1, path("/echo", "POST"), end_stream=False))
        wire.send(F.DataFrame(1, b"x" * 11, flags=["END_STREAM"]))
        wire.send(wire.headers(3, [*path("/echo", "POST"), ("x-big", "x" * 9000)]))
        answers = wire.responses(1, 3)
        assert (answers[1][0][":status"], answers[3][0][":status"]) == ("413", "431")
        wire.close()


# -- abuse -------------------------------------------------------------------------------------


def test_streams_over_the_concurrency_limit_never_reach_the_pipeline(
    gated: tuple[Served, Gate],
) -> None:
    served, _ = gated
    with Wire(served.port) as wire:
        wire.send(*(wire.headers(2 * n + 1, path("/hold")) for n in range(101)))
        # A client that ignores the limit it acknowledged: nghttp2 ends the connection.
        wire.stream_error(201, REFUSED_STREAM, PROTOCOL_ERROR)
    assert len(served.requests) == 100


def test_a_stream_reset_by_the_client_cancels_its_work(gated: tuple[Served, Gate]) -> None:
    served, gate = gated
    with Wire(served.port) as wire:
        wire.send(wire.headers(1, path("/hold")))
        gate.wait_started(1)
        wire.send(F.RstStreamFrame(1, 8))
        served.call(_until(lambda: gate.cancelled == 1))
        wire.alive()


def test_rapid_reset_ends_the_connection(served: Served) -> None:
    with Wire(served.port) as wire:
        frames = []
        for n in range(1500):
            frames += [
                wire.headers(2 * n + 1, POST, end_stream=False),
                F.RstStreamFrame(2 * n + 1, 8),
            ]
        wire.send(*frames)
        wire.goaway(ENHANCE_YOUR_CALM, 2)  # nghttp2's verdict: past the reset rate


def test_a_continuation_flood_ends_the_connection(served: Served) -> None:
    with Wire(served.port) as wire:
        block = wire.block(REQUEST)
        frames = [raw(HEADERS, END_STREAM, 1, block)]
        frames += [raw(CONTINUATION, 0, 1, wire.block([("x-a", "b")])) for _ in range(20)]
        wire.send(*frames)
        wire.goaway(ENHANCE_YOUR_CALM, 2, 9)
    assert not any(r.headers.get("x-a") for r in served.requests)


def test_a_ping_flood_left_unread_ends_the_connection(served: Served) -> None:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", served.port))
    sock.settimeout(10)
    ping = F.PingFrame(0, b"flooding").serialize()
    sock.sendall(PREFACE + F.SettingsFrame(0).serialize())
    try:
        for _ in range(200):  # never reading: the acknowledgements pile up in the server
            sock.sendall(ping * 2000)
    except (ConnectionResetError, BrokenPipeError):
        pass  # ended mid-flood
    else:
        pytest.fail("the server took a PING flood without ending the connection")
    finally:
        sock.close()


def test_answers_blocked_behind_a_closed_window_end_the_connection(
    gated: tuple[Served, Gate],
) -> None:
    served, _ = gated  # keepalive_timeout_s = 1
    with Wire(served.port, settings={F.SettingsFrame.INITIAL_WINDOW_SIZE: 0}) as wire:
        wire.send(wire.headers(1, path("/big")))
        wire.goaway(ENHANCE_YOUR_CALM)


def test_an_idle_connection_gets_goaway_no_error(gated: tuple[Served, Gate]) -> None:
    served, _ = gated
    with Wire(served.port) as wire:
        wire.goaway(NO_ERROR)


def test_shutdown_sends_goaway_and_finishes_the_streams_in_flight() -> None:
    gate = Gate()
    served = Served(gate, ServerSettings(http2=True))
    gate.served = served
    try:
        with Wire(served.port) as wire:
            wire.send(wire.headers(1, path("/hold")))
            gate.wait_started(1)
            closing = asyncio.run_coroutine_threadsafe(served.server.close(5), served.loop)
            goaway = wire.read()
            assert isinstance(goaway, F.GoAwayFrame)
            assert (goaway.error_code, goaway.last_stream_id) == (NO_ERROR, 1)
            gate.open()
            headers, body = wire.response(1)
            assert (headers[":status"], body) == ("200", b"held")
            assert wire.read() is None  # closed once its streams are answered
            closing.result(3)
    finally:
        served.stop()


@pytest.mark.skipif(shutil.which("h2load") is None, reason="h2load (Debian nghttp2-client)")
def test_h2load_ten_thousand_streams_without_an_error(served: Served) -> None:
    done = subprocess.run(
        ["h2load", "-n", "10000", "-c", "10", "-m", "10", f"http://127.0.0.1:{served.port}/"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "10000 succeeded, 0 failed, 0 errored, 0 timeout" in done.stdout, done.stdout
    assert "status codes: 10000 2xx" in done.stdout


def _answer_with(headers: list[tuple[str, str]]) -> dict[str, str]:
    with (
        serving(lambda request: Response(200, b"ok", list(headers))) as served,
        Wire(served.port) as wire,
    ):
        wire.send(wire.headers(1))
        fields, _ = wire.response(1)
    return fields


def test_fields_http2_forbids_are_dropped_and_names_lowered() -> None:
    fields = _answer_with(
        [("Connection", "close"), ("transfer-encoding", "chunked"), ("X-Kind", "A")]
    )
    assert fields[":status"] == "200" and fields["x-kind"] == "A"
    assert not {"connection", "transfer-encoding", "Connection"} & fields.keys()
    assert fields["content-length"] == "2"


def test_a_header_value_with_a_line_feed_is_never_written() -> None:
    fields = _answer_with([("x-bad", "a\nb")])
    assert fields[":status"] == "500" and "x-bad" not in fields


def test_a_remembered_field_is_written_alike_on_the_next_answer() -> None:
    answer = Response(200, b"hi", [("Content-Type", "text/plain"), ("upgrade", "h2c")])
    first, second = http2._fields(answer), http2._fields(answer)
    assert first[:2] == second[:2] == [(b":status", b"200"), (b"content-type", b"text/plain")]
    assert b"upgrade" not in {name for name, _ in second}


def test_a_field_with_a_carriage_return_is_refused_on_every_answer() -> None:
    answer = Response(200, b"hi", [("x-bad", "a\rb")])
    for _ in range(2):
        with pytest.raises(ValueError):
            http2._fields(answer)


def test_fields_given_as_lists_are_checked_and_written() -> None:
    answer = Response(200, b"hi", [["x-kind", "A"]])  # type: ignore[list-item]
    assert (b"x-kind", b"A") in http2._fields(answer)


def test_a_field_goes_out_never_indexed_until_it_is_seen_again() -> None:
    value = uuid.uuid4().hex  # never seen by this process before

    def handle(request: Request) -> Response:
        return Response(200, b"hi", [("x-seen", value)])

    with serving(handle) as served, Wire(served.port) as wire:
        wire.send(wire.headers(1), wire.headers(3))
        blocks: dict[int, list[tuple[str, str]]] = {1: [], 3: []}
        ended = set()
        for frame in wire.frames():
            if isinstance(frame, F.HeadersFrame):
                blocks[frame.stream_id] += frame.decoded  # type: ignore[attr-defined]
            if "END_STREAM" in frame.flags:
                ended.add(frame.stream_id)
                if ended == {1, 3}:
                    break
    first, second = (next(f for f in blocks[s] if f[0] == "x-seen") for s in (1, 3))
    assert first == second == ("x-seen", value)
    assert isinstance(first, hpack.NeverIndexedHeaderTuple)
    assert not isinstance(second, hpack.NeverIndexedHeaderTuple)


def test_field_values_that_never_repeat_do_not_grow_the_table() -> None:
    http2._fields(Response(200, b"hi", [("x-request-id", "warm")]))
    size = len(http2._ENCODED)
    for n in range(100):
        http2._fields(Response(200, b"hi", [("x-request-id", f"{n}-{uuid.uuid4().hex}")]))
    assert len(http2._ENCODED) == size
