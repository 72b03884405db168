"""CPU per request of the HTTP/2 engines tailor could serve with, protocol layer only.

    python -m benchmarks.h2engines [--requests 20000]

A client (hyper-h2) prepares the bytes of ``--requests`` GETs on one connection, ten streams
at a time as ``h2load -m10`` sends them; each engine, in the server role, parses them and
answers each with a 200 and a 10 KB body, as a cache hit would. What is timed is the server's
CPU (``time.process_time``), from the first byte fed to the last byte of the answers taken:
framing, HPACK, flow control, the events. Sockets, TLS and the event loop are not in it, so
the figure is each engine's floor and the ratio between them is what chose tailor's
(docs/http2.md).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import h2.config
import h2.connection
import h2.events
import ngh2

BODY = b"x" * 10_000
BATCH = 10


def client_reads(requests: int) -> list[bytes]:
    """The bytes a client sends, one read per batch of ten requests (the preface first)."""
    client = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    client.initiate_connection()
    client.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 2**31 - 1})
    client.increment_flow_control_window(2**30)
    reads = [client.data_to_send()]
    headers = [
        (":method", "GET"),
        (":path", "/v1/home"),
        (":scheme", "http"),
        (":authority", "bench"),
        ("authorization", "Bearer abc.def.ghi"),
    ]
    # A fresh client per batch id space: stream ids must grow, and h2 refuses more than
    # its own concurrency, so each batch's streams are closed by faking their answers.
    for _ in range(requests // BATCH):
        for _ in range(BATCH):
            sid = client.get_next_available_stream_id()
            client.send_headers(sid, headers, end_stream=True)
            client.streams.pop(sid, None)
        reads.append(client.data_to_send())
    return reads


def serve_ngh2(reads: list[bytes]) -> int:
    conn = ngh2.Connection(ngh2.Role.SERVER)
    conn.initiate_connection({ngh2.Setting.MAX_CONCURRENT_STREAMS: 100})
    sent = len(conn.data_to_send())
    headers = [
        (b":status", b"200"),
        (b"content-type", b"application/json"),
        (b"content-length", str(len(BODY)).encode()),
    ]
    for data in reads:
        conn.receive_data(data)
        for event in conn.events():
            if type(event) is ngh2.RequestReceived:
                conn.send_response(event.stream_id, headers)
                conn.send_data(event.stream_id, BODY, end_stream=True)
        sent += len(conn.data_to_send())
    return sent


def serve_h2(reads: list[bytes]) -> int:
    conn = h2.connection.H2Connection(
        h2.config.H2Configuration(client_side=False, header_encoding=None)
    )
    conn.initiate_connection()
    sent = len(conn.data_to_send())
    headers = [
        (b":status", b"200"),
        (b"content-type", b"application/json"),
        (b"content-length", str(len(BODY)).encode()),
    ]
    for data in reads:
        for event in conn.receive_data(data):
            if type(event) is h2.events.RequestReceived:
                conn.send_headers(event.stream_id, headers)
                conn.send_data(event.stream_id, BODY, end_stream=True)
        sent += len(conn.data_to_send())
    return sent


ENGINES: dict[str, Callable[[list[bytes]], int]] = {"ngh2": serve_ngh2, "h2": serve_h2}


def measure(requests: int) -> dict[str, float]:
    """Server CPU per request, in microseconds, of each engine (best of three)."""
    reads = client_reads(requests)
    result = {}
    for name, serve in ENGINES.items():
        best = float("inf")
        for _ in range(3):
            began = time.process_time()
            sent = serve(reads)
            best = min(best, time.process_time() - began)
        assert sent > requests * len(BODY), f"{name} did not answer every request"
        result[name] = best / requests * 1e6
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20_000)
    args = parser.parse_args()
    figures = measure(args.requests)
    for name, us in figures.items():
        print(f"{name:6} {us:7.2f} us CPU per request")
    print(f"h2 / ngh2: {figures['h2'] / figures['ngh2']:.1f}x")


if __name__ == "__main__":
    main()
