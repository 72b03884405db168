"""Instructions one HTTP/2 stream costs tailor's server, against one HTTP/1.1 request.

    python -m benchmarks.h2stream                  # 300 reads of 10 requests, callgrind
    python -m benchmarks.h2stream --reads 100
    python -m benchmarks.h2stream --protocols raw,h2c   # the engine alone, then tailor's h2c

The server's side alone, in one process with no socket: a connection of
:mod:`tailor.serve.http2` (h2c) or of :mod:`tailor.serve.http1` (pipelined) is fed reads of
ten GETs each, as ``h2load -m10`` sends them (the HTTP/2 reads recorded beforehand from an
nghttp2 client, so the client's work is not counted), and answers each at once with a cache
hit's shape: a 10 KB body and the real mobile hit's twelve fields (a request id and a rate
limit count change on every answer). Its transport keeps nothing. Counted with
valgrind's callgrind, twice, ``--reads`` reads apart: the difference per request is the
protocol's cost through the server (parsing, HPACK, the Request, the answer's head, framing),
with start-up cancelled out. What the kernel does (one write per read over HTTP/2, one per
answer over HTTP/1.1) is not in it: ``benchmarks.run --scenarios http2`` times that.

One term of the count is not the code's: the binding gathers what it sends in a bytearray
grown by ``realloc``, which copies or grows in place as the heap's layout allows, and valgrind
counts a copy's ``rep movsb`` once per byte. A change to the Python side moves that layout,
and the count by up to about 10,000 per stream either way. To compare two builds, run them
side by side with profiles kept and leave libc's memcpy out (``callgrind_annotate``).

``raw`` is the floor under ``h2c``: the same reads fed to ngh2 alone, each request answered
with the same header block (status, the fields, content-length, date; the fields that
never repeat encoded per answer and never indexed, the others built once), and the same
body, one ``data_to_send`` per read; no Request, no pipeline, no asyncio. ``h2c`` minus
``raw`` is tailor's glue around the engine.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import pickle
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import ngh2

from tailor.http import Request, Response

BODY = b'{"home": "' + b"x" * 10_000 + b'"}'
#: The mobile home's cache hit, as the real BFF answers it: the fields that repeat on every
#: answer, then those that never repeat (:func:`_answer` adds them).
FIELDS = [
    ("content-type", "application/json"),
    ("deprecation", "@1796083200"),
    ("sunset", "Wed, 30 Jun 2027 00:00:00 GMT"),
    ("link", '<https://developers.waveform.example/changes/home-v2>; rel="deprecation"'),
    ("vary", "accept-encoding"),
    ("cache-control", "private, max-age=60, stale-while-revalidate=30, stale-if-error=300"),
    ("etag", '"4c90fbdc83ca151d3f19c6be"'),
    ("age", "3"),
    ("x-cache", "hit"),
    ("ratelimit-policy", '"user-read";q=1000000000;w=60, "app-read";q=1000000000;w=60'),
]
TOKEN = "e" * 700  # a bearer JWT's length: HPACK never indexes an authorization field
IN_FLIGHT = 10
PROTOCOLS = ("raw", "h2c", "http1")
#: Reads in the first (baseline) run.
BASE = 100
_COLLECTED = re.compile(r"Collected : (\d+)")


_answered = itertools.count()


def _changing(n: int) -> list[tuple[str, str]]:
    """The fields of the ``n``-th answer that no other answer has."""
    left = 999_999_999 - n
    return [
        ("ratelimit", f'"user-read";r={left};t=1, "app-read";r={left};t=1'),
        ("x-request-id", f"{n:024x}"),
    ]


def _answer(request: Request) -> Response:
    return Response(200, BODY, [*FIELDS, *_changing(next(_answered))])


def h2_reads(reads: int) -> list[bytes]:
    """What an nghttp2 client sends (the preface first, then ``reads`` reads of ten GETs),
    answered by an nghttp2 server as tailor's answers, so its acknowledgements and window
    updates are those the real server gets."""
    from tailor.serve.http2 import CONNECTION_WINDOW, MAX_CONCURRENT_STREAMS, STREAM_WINDOW, _engine

    client = ngh2.Connection(ngh2.Role.CLIENT)
    client.initiate_connection({ngh2.Setting.INITIAL_WINDOW_SIZE: 2**31 - 1})
    client.set_local_window_size(2**31 - 1)
    server = _engine(64 * 1024)
    server.initiate_connection(
        {
            ngh2.Setting.MAX_CONCURRENT_STREAMS: MAX_CONCURRENT_STREAMS,
            ngh2.Setting.INITIAL_WINDOW_SIZE: STREAM_WINDOW,
            ngh2.Setting.MAX_HEADER_LIST_SIZE: 64 * 1024,
            ngh2.Setting.ENABLE_PUSH: 0,
        }
    )
    server.set_local_window_size(CONNECTION_WINDOW)
    head = [
        (b":method", b"GET"),
        (b":path", b"/v1/home"),
        (b":scheme", b"http"),
        (b":authority", b"127.0.0.1:8080"),
        (b"authorization", f"Bearer {TOKEN}".encode()),
        (b"accept", b"*/*"),
        (b"user-agent", b"h2load nghttp2/1.52.0"),
    ]
    out: list[bytes] = []

    def exchange(data: bytes) -> None:
        out.append(data)
        server.receive_data(data)
        for event in server.events():
            if isinstance(event, ngh2.RequestReceived):
                server.send_response(event.stream_id, [(b":status", b"200")])
                server.send_data(event.stream_id, BODY, end_stream=True)
        client.receive_data(server.data_to_send())
        client.events()

    exchange(client.data_to_send())
    for _ in range(reads):
        for _ in range(IN_FLIGHT):
            client.send_request(head, end_stream=True)
        exchange(client.data_to_send())
        if acknowledgements := client.data_to_send():
            exchange(acknowledgements)
    return out


def h1_read() -> bytes:
    return (
        "GET /v1/home HTTP/1.1\r\nhost: 127.0.0.1:8080\r\nuser-agent: h2load nghttp2/1.52.0\r\n"
        f"accept: */*\r\nauthorization: Bearer {TOKEN}\r\n\r\n"
    ).encode() * IN_FLIGHT


class _Transport:
    """Takes what the server writes and keeps its size only."""

    def __init__(self) -> None:
        self.written = 0

    def write(self, data: bytes) -> None:
        self.written += len(data)

    def writelines(self, lines: list[bytes]) -> None:
        self.written += sum(map(len, lines))

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 40000) if name == "peername" else default

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def _serve_raw(reads: list[bytes]) -> int:
    """ngh2 alone on the same reads, configured as tailor's server configures it."""
    from tailor.serve.http2 import CONNECTION_WINDOW, MAX_CONCURRENT_STREAMS, STREAM_WINDOW, _engine

    engine = _engine(64 * 1024)
    engine.initiate_connection(
        {
            ngh2.Setting.MAX_CONCURRENT_STREAMS: MAX_CONCURRENT_STREAMS,
            ngh2.Setting.INITIAL_WINDOW_SIZE: STREAM_WINDOW,
            ngh2.Setting.MAX_HEADER_LIST_SIZE: 64 * 1024,
            ngh2.Setting.ENABLE_PUSH: 0,
        }
    )
    engine.set_local_window_size(CONNECTION_WINDOW)
    fields = [
        (b":status", b"200"),
        *[(name.encode(), value.encode()) for name, value in FIELDS],
        (b"content-length", str(len(BODY)).encode()),
        (b"date", b"Mon, 07 Dec 2026 12:00:00 GMT"),
    ]
    written = len(engine.data_to_send())
    request_received = ngh2.RequestReceived
    never_indexed = ngh2.NeverIndexedHeader
    answered = itertools.count()
    for data in reads:
        engine.receive_data(data)
        for event in engine.events():
            if type(event) is request_received:
                changing = [
                    never_indexed(name.encode(), value.encode())
                    for name, value in _changing(next(answered))
                ]
                engine.send_response(event.stream_id, [*fields, *changing])
                engine.send_data(event.stream_id, BODY, end_stream=True)
        written += len(engine.data_to_send())
    return written


async def _serve(protocol: str, reads: list[bytes]) -> int:
    from tailor.serve.http1 import Http1Server, ServerSettings, _Connection
    from tailor.serve.http2 import Http2Connection

    server = Http1Server(_answer, ServerSettings(http2=protocol == "h2c"))
    server.loop = asyncio.get_running_loop()
    connection = Http2Connection(server) if protocol == "h2c" else _Connection(server)
    transport = _Transport()
    connection.connection_made(transport)  # type: ignore[arg-type]
    for data in reads:
        connection.data_received(data)
    return transport.written


def count(protocol: str, reads: int, work: Path) -> int:
    """Instructions of one child run of ``reads`` reads."""
    done = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
         sys.executable, "-m", "benchmarks.h2stream", "--child", protocol,
         "--reads", str(reads), "--work", str(work)],
        capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": "0"}, timeout=1800,
    )  # fmt: skip
    found = _COLLECTED.search(done.stderr)
    if done.returncode != 0 or found is None:
        raise RuntimeError(f"{protocol}: the counted run failed:\n{done.stderr}")
    return int(found.group(1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.h2stream", description=__doc__)
    parser.add_argument("--reads", type=int, default=300)
    parser.add_argument("--protocols", type=lambda s: s.split(","), default=["raw", "h2c", "http1"])
    parser.add_argument("--child", choices=PROTOCOLS, help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        import uvloop

        if args.child == "http1":
            reads = [h1_read()] * args.reads
        else:
            reads = pickle.loads((args.work / f"h2c-{args.reads}.pickle").read_bytes())
        if args.child == "raw":
            written = _serve_raw(reads)
        else:
            written = uvloop.run(_serve(args.child, reads))
        if written < args.reads * IN_FLIGHT * len(BODY):
            raise SystemExit(f"{args.child}: only {written} bytes answered")
        return 0
    with tempfile.TemporaryDirectory(prefix="tailor-h2stream-") as tmp:
        work = Path(tmp)
        for n in (BASE, BASE + args.reads):
            (work / f"h2c-{n}.pickle").write_bytes(pickle.dumps(h2_reads(n)))
        per = {}
        for protocol in args.protocols:
            base, more = count(protocol, BASE, work), count(protocol, BASE + args.reads, work)
            per[protocol] = (more - base) / (args.reads * IN_FLIGHT)
            print(f"{protocol:<6} {per[protocol]:10,.0f} instructions per request", flush=True)
    if "h2c" in per and "raw" in per:
        print(f"h2c - raw (tailor's glue): {per['h2c'] - per['raw']:10,.0f}")
    if "h2c" in per and "http1" in per:
        print(f"h2c / http1: {per['h2c'] / per['http1']:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
