"""Live updates at scale (issue 16): how many WebSocket connections one worker holds, what
each costs in memory, how fast one event reaches all of them, and what a client that never
reads costs.

    python -m benchmarks.live                                   # 10k connections, the figures
    python -m benchmarks.live --connections 500 --events 5 --slow 20 --no-write   # a smoke run

A worker (tailor's HTTP/1.1 server on uvloop, the full pipeline, :class:`tailor.live.Live`
with a feed of its own) runs in a child process pinned to one core; this process, on the
other core, opens the connections (bearer tokens in ``Sec-WebSocket-Protocol``, a distinct
user each) with a small hand-written client (asyncio protocols, frames parsed by hand), so
the client costs little beside what it measures. The figures:

- **RSS per connection**: the worker's resident set (``VmRSS``, read by the worker itself)
  with every connection open and each pinged once and answered (as idle clients do), less
  with the first ``WARM`` open, over the others: what one more connection costs (target
  <= 4 KB); the gross figure, from before any connection, is printed beside it.
- **Fan-out**: one event published to every connection (``POST /publish``, one at a time,
  ``--events`` times): the worker's own time to hand it to every socket, and the latency each
  client saw from the publish to its arrival (one host, one clock), p50 and p99 over all
  recipients of all events (target p99 <= 150 ms).
- **A client that never reads**: ``--slow`` more connections on sockets with a small receive
  buffer that are never read, then ``--flood`` events of 2 KB: the worker's growth in memory
  against the bound the send buffers allow (``--slow`` x ``send_buffer_bytes``), and that the
  readers still get every event or a gap marker.

The worker's file descriptors are the connections: ``ulimit -n`` must exceed them (both
processes raise their soft limit to the hard one; the run stops naming the limit otherwise).
Results go to ``results/live.json`` (``--no-write`` leaves it).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results" / "live.json"
SERVER_CPU = 0
CLIENT_CPU = 1
SEND_BUFFER = 65536
ISSUER, AUDIENCE = "bench", "bench-live"
WARM = 200  # connections opened before the per-connection figure's baseline
PING_S = 3.0  # the worker's ping interval


# -- the worker ----------------------------------------------------------------------------


def serve(port_file: str, key_file: str, connections: int) -> None:
    """The child: a BFF with live routes on tailor's server, one core, until stdin closes."""
    import uvloop

    from tailor import BFF, Request, Response, build_config, json_response
    from tailor.live import Event, Hub, Live
    from tailor.serve.http1 import Http1Server, settings_from

    class BenchFeed:
        def __init__(self) -> None:
            self.hub: Hub | None = None

        def start(self, hub: Hub) -> None:
            self.hub = hub

        async def topics(self, request: Request) -> set[str]:
            return {"all"}

        async def replay(self, after: str, limit: int) -> list[Event] | None:
            return []

    config = build_config({
        "name": "bench-live",
        "admin": {"enabled": False},
        "auth": {"jwt": {"issuer": ISSUER, "audience": AUDIENCE, "public_key_file": key_file,
                         "public_key_kid": "k1"}},
        "server": {"max_connections": connections + 1000},
        # Pinged soon, so the memory figure is of connections that have answered a ping
        # (as every idle one does); the never-reading clients are not dropped as dead.
        "stages": {"live": {"max_per_worker": connections + 500, "max_per_ip": 1_000_000,
                            "send_buffer_bytes": SEND_BUFFER, "ping_interval_s": PING_S,
                            "pong_timeout_s": 600, "slow_consumer_s": 600}},
    })  # fmt: skip
    bff = BFF(config)
    feed = BenchFeed()
    live = Live(bff, feed, websocket="/live", sse=None)
    sequence = 0

    @bff.post("/publish", auth=False)
    async def publish(request: Request) -> Response:
        nonlocal sequence
        size = int(request.query.get("size", "0"))
        took = []
        for _ in range(int(request.query.get("count", "1"))):
            sequence += 1
            body = json.dumps({"n": sequence, "t0": time.time(), "pad": "x" * size}).encode()
            started = time.perf_counter()
            sent = feed.hub.publish(Event(f"{sequence}-0", ("all",), body)) if feed.hub else 0
            took.append((time.perf_counter() - started) * 1000)
            await asyncio.sleep(0)  # let the loop write between events
        return json_response({"sent": sent, "fanout_ms": took})

    @bff.get("/stats", auth=False)
    async def stats(request: Request) -> Response:
        return json_response({"rss_kb": _rss_kb(os.getpid()), "connections": live.connections,
                              "slow_consumers": live.slow_consumers})  # fmt: skip

    async def main() -> None:
        bff.startup(admin=False)
        server = Http1Server(bff.respond, settings_from(bff.config, bff.admitting))
        await server.start(host="127.0.0.1", port=0)
        Path(port_file).write_text(str(server.port))  # noqa: ASYNC240 - once, at start
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        await server.close(grace_s=1)
        await bff.shutdown()

    _raise_nofile(connections + 1000)
    uvloop.run(main())


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _raise_nofile(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    if soft < needed:
        raise SystemExit(f"ulimit -n is {soft}; {needed} descriptors are needed (raise it)")


# -- the client ----------------------------------------------------------------------------


class Reader(asyncio.Protocol):
    """One client connection: the handshake, then server frames (unmasked) parsed by hand;
    each event's latency from its ``t0``."""

    def __init__(self, request: bytes, opened: asyncio.Future[None], sink: list[float],
                 counts: dict[str, int], read: bool = True) -> None:  # fmt: skip
        self.request = request
        self.opened = opened
        self.sink = sink
        self.counts = counts
        self.buffer = b""
        self.upgraded = False
        self.read = read
        self.pinged = False
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.transport.write(self.request)  # type: ignore[union-attr]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.upgraded:
            head, sep, rest = self.buffer.partition(b"\r\n\r\n")
            if not sep:
                return
            if not head.startswith(b"HTTP/1.1 101"):
                self.opened.set_exception(RuntimeError(head.split(b"\r\n")[0].decode()))
                return
            self.upgraded, self.buffer = True, rest
            self.opened.set_result(None)
            if not self.read and self.transport is not None:
                self.transport.pause_reading()
                return
        now = time.time()
        buf = self.buffer
        while len(buf) >= 2:
            size, at = buf[1] & 0x7F, 2
            if size == 126:
                if len(buf) < 4:
                    break
                size, at = int.from_bytes(buf[2:4], "big"), 4
            elif size == 127:
                if len(buf) < 10:
                    break
                size, at = int.from_bytes(buf[2:10], "big"), 10
            if len(buf) < at + size:
                break
            opcode, payload, buf = buf[0] & 0x0F, buf[at : at + size], buf[at + size :]
            if opcode == 9 and self.transport is not None:  # a ping: pong, masked
                mask = os.urandom(4)
                masked = bytes(b ^ mask[i & 3] for i, b in enumerate(payload))
                self.transport.write(bytes([0x8A, 0x80 | len(payload)]) + mask + masked)
                self.pinged = True
            elif opcode == 1:
                event = json.loads(payload)
                if "t0" in event:
                    self.sink.append(now - event["t0"])
                else:
                    self.counts["gaps"] = self.counts.get("gaps", 0) + 1
        self.buffer = buf


def _handshake(port: int, token: str) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    return (f"GET /live HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\nupgrade: websocket\r\n"
            f"connection: Upgrade\r\nsec-websocket-key: {key}\r\nsec-websocket-version: 13\r\n"
            f"sec-websocket-protocol: live.v1, bearer.{token}\r\n\r\n").encode()  # fmt: skip


async def _open(port: int, tokens: list[str], sink: list[float], counts: dict[str, int], *,
                read: bool = True, batch: int = 200) -> list[Reader]:  # fmt: skip
    loop = asyncio.get_running_loop()
    readers: list[Reader] = []
    for start in range(0, len(tokens), batch):
        pending = []
        for token in tokens[start : start + batch]:
            opened: asyncio.Future[None] = loop.create_future()
            reader = Reader(_handshake(port, token), opened, sink, counts, read)
            sock = socket.socket()
            if not read:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.setblocking(False)
            await loop.sock_connect(sock, ("127.0.0.1", port))
            await loop.create_connection(lambda r=reader: r, sock=sock)
            readers.append(reader)
            pending.append(opened)
        await asyncio.wait_for(asyncio.gather(*pending), 60)
    return readers


async def _http(port: int, method: str, path: str) -> dict[str, Any]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"{method} {path} HTTP/1.1\r\nhost: b\r\ncontent-length: 0\r\n"
                 "connection: close\r\n\r\n".encode())  # fmt: skip
    raw = await asyncio.wait_for(reader.read(), 120)
    writer.close()
    return dict(json.loads(raw.partition(b"\r\n\r\n")[2]))


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def measure(port: int, tokens: list[str], args: argparse.Namespace) -> dict[str, Any]:
    n = args.connections
    sink: list[float] = []
    counts: dict[str, int] = {}
    await asyncio.sleep(0.5)  # the worker settles after start (a fixed pause, not a sync)
    before = (await _http(port, "GET", "/stats"))["rss_kb"]
    # The first connections pay once for what every later one shares (the feed started,
    # the hub's tables, the JWKS key parsed, allocator arenas): the figure is what each
    # connection after those adds, and the gross one (from before any) is printed too.
    warm = min(WARM, n // 10)
    began = time.perf_counter()
    readers = await _open(port, tokens[:warm], sink, counts)
    warmed = (await _http(port, "GET", "/stats"))["rss_kb"]
    readers += await _open(port, tokens[warm:n], sink, counts)
    opened_s = time.perf_counter() - began
    async with asyncio.timeout(PING_S * 3 + opened_s):
        while not all(r.pinged for r in readers):  # noqa: ASYNC110 - set by the readers
            await asyncio.sleep(0.05)
    stats = await _http(port, "GET", "/stats")
    per_conn_kb = (stats["rss_kb"] - warmed) / (n - warm)
    gross_kb = (stats["rss_kb"] - before) / n
    print(
        f"{n} connections open in {opened_s:.1f} s; worker RSS {before} KB, {warmed} KB "
        f"after {warm}, {stats['rss_kb']} KB after all: {per_conn_kb * 1024:.0f} B each "
        f"({gross_kb * 1024:.0f} B each counting from none)",
        flush=True,
    )

    p99s, fanouts = [], []
    for _ in range(args.events):
        sink.clear()
        answer = await _http(port, "POST", "/publish?count=1&size=100")
        fanouts.extend(answer["fanout_ms"])
        async with asyncio.timeout(30):
            while len(sink) < n:  # noqa: ASYNC110 - the readers' own loop fills it
                await asyncio.sleep(0.005)
        p99s.append(_pct(sink, 0.99) * 1000)
        all_latencies = sink[:]
    print(
        f"fan-out to {n}: worker {statistics.median(fanouts):.1f} ms (median of "
        f"{len(fanouts)}); delivery p99 {statistics.median(p99s):.1f} ms (median over "
        f"events), worst {max(p99s):.1f} ms",
        flush=True,
    )

    slow_tokens = tokens[n : n + args.slow]
    slow_before = (await _http(port, "GET", "/stats"))["rss_kb"]
    await _open(port, slow_tokens, [], {}, read=False)
    sink.clear()
    counts.clear()
    flood = await _http(port, "POST", f"/publish?count={args.flood}&size=2000")
    await asyncio.sleep(1.0)  # the readers drain what the worker wrote (a pause, not a sync)
    after = (await _http(port, "GET", "/stats"))["rss_kb"]
    growth_kb = after - slow_before
    bound_kb = args.slow * SEND_BUFFER / 1024
    got_all = sum(1 for _ in sink)
    print(
        f"{args.slow} clients never reading, {args.flood} events of 2 KB: worker grew "
        f"{growth_kb} KB (their send buffers allow {bound_kb:.0f} KB); readers got "
        f"{got_all} events and {counts.get('gaps', 0)} gap markers",
        flush=True,
    )
    for r in readers:
        if r.transport is not None:
            r.transport.close()
    return {
        "connections": n,
        "open_s": round(opened_s, 2),
        "rss_per_connection_bytes": round(per_conn_kb * 1024),
        "rss_per_connection_gross_bytes": round(gross_kb * 1024),
        "fanout_worker_ms_median": round(statistics.median(fanouts), 2),
        "delivery_p50_ms": round(_pct(all_latencies, 0.5) * 1000, 2),
        "delivery_p99_ms_median": round(statistics.median(p99s), 2),
        "delivery_p99_ms_worst": round(max(p99s), 2),
        "slow_clients": args.slow,
        "flood_events": args.flood,
        "flood_worker_fanout_ms_total": round(sum(flood["fanout_ms"]), 1),
        "slow_growth_kb": growth_kb,
        "slow_bound_kb": round(bound_kb),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=20)
    parser.add_argument("--slow", type=int, default=100)
    parser.add_argument("--flood", type=int, default=500)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--serve", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve[0], args.serve[1], int(args.serve[2]))
        return
    import jwt
    import uvloop
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    total = args.connections + args.slow
    _raise_nofile(total + 100)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(time.time())
    tokens = [jwt.encode({"sub": f"u{i}", "iss": ISSUER, "aud": AUDIENCE, "iat": now,
                          "exp": now + 3600}, key, algorithm="RS256", headers={"kid": "k1"})
              for i in range(total)]  # fmt: skip
    with tempfile.TemporaryDirectory() as work:
        key_file, port_file = Path(work) / "k1.pem", Path(work) / "port"
        pem = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        key_file.write_bytes(pem)
        child = subprocess.Popen(
            ["taskset", "-c", str(SERVER_CPU), sys.executable, "-m", "benchmarks.live",
             "--serve", str(port_file), str(key_file), str(total)],
            stdin=subprocess.PIPE,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 30
            while not port_file.exists() or not port_file.read_text():
                if time.monotonic() > deadline or child.poll() is not None:
                    raise SystemExit("the live worker did not start")
                time.sleep(0.05)  # polling a condition (the port file), not a synchronization
            os.sched_setaffinity(0, {CLIENT_CPU % os.cpu_count()})  # type: ignore[operator]
            result = uvloop.run(measure(int(port_file.read_text()), tokens, args))
        finally:
            assert child.stdin is not None
            child.stdin.close()
            child.wait(timeout=30)
    result["measured"] = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    print(json.dumps(result, indent=2))
    if not args.no_write:
        RESULTS.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
