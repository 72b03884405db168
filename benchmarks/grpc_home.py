"""The mobile home with its critical path over gRPC against the same home over HTTP/1.1 JSON,
in CPU per home (issue 15's budget: at most 1.25x).

    python -m benchmarks.grpc_home                   # 5 interleaved rounds x 600 homes
    python -m benchmarks.grpc_home --rounds 3 --requests 300 --modes http,connect
    python -m benchmarks.grpc_home --instructions    # valgrind's count per home: http, connect

The real services run (services only, ephemeral ports); users and catalog answer JSON, gRPC
and the Connect protocol from the same routes. The real mobile BFF (full profile, edge cache
off) runs in this process on uvloop and fetches alice's home with users and catalog called
per mode: ``http`` (JSON over tailor's HTTP/1.1 transport), ``connect`` (protobuf over the
same transport, the Connect protocol), ``grpc`` (gRPC over tailor's own HTTP/2 client,
:mod:`tailor.upstream.grpc.h2`) and, as a peer, ``grpcio`` (the same gRPC calls made by
grpcio's asyncio client, which the ``grpc://`` wire used before; :class:`Grpcio`). The other
four services stay JSON in every mode. Measured:
this process's CPU time per home (all threads), and beside it the users and catalog
processes' (``service_cpu_us_per_home``, all their threads, from ``/proc``: 10 ms ticks, so a
round's total, not a home's, is read) and their context switches per home.
Modes run interleaved, medians across rounds. Also reported: the bytes the home's gRPC
calls receive with the read masks its consumed structs ask for, against the whole messages.

Timed CPU on a shared machine moves with its load; ``--instructions`` counts instead (as
:mod:`benchmarks.instructions` does for the fixture home): the BFF in a child process under
``valgrind --tool=callgrind``, one home at a time, run twice with 20 and 60 homes after the
same warm-up, the difference over 40 the instructions of one home. One at a time, the count
leaves out what concurrency and the upstreams' pace do to the loop's wake-ups, which the timed
figure includes.

In ``make bench`` (the ``grpc`` scenario of :mod:`benchmarks.run`) the rate against Node is
measured too (:func:`rps_against_node`): the mobile BFF as its own process on the contender's
core, users and catalog over the demo's wire (:data:`~waveform.supervisor.DEMO_UPSTREAMS`:
gRPC) from :mod:`benchmarks.grpc_replay` (the services' gRPC API answering from the fixture's
recorded JSON, replayed), the rest from the fixture nginx, and Node fastify + undici
on the same nginx; the same JSON checked, then wrk rounds interleaved. The scenario's target
row is the demo's wire too (``target``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import uvloop

from benchmarks import contenders, fixture
from benchmarks.contenders import ROOT
from benchmarks.instructions import STEADY
from benchmarks.transports import drive, make
from tailor.upstream.grpc.transport import (
    _NOT_METADATA,
    GrpcTransport,
    GrpcUpstream,
    decoded,
    request_bytes,
)
from tailor.upstream.transport import UpstreamRequest, UpstreamResponse
from waveform.seed import token_client_secret
from waveform.supervisor import DEMO_UPSTREAMS, Platform, free_ports

MODES = ("http", "connect", "grpc", "grpcio")
RESULTS = Path(__file__).resolve().parent / "results" / "grpc_home.json"
#: The home's services that have a proto.
RPC = ("users", "catalog")


def upstreams(platform: Platform, mode: str) -> dict[str, str]:
    urls = {name: platform.url(name) for name in platform.ports if name not in ("mobile",)}
    for name in RPC:
        if mode in ("grpc", "grpcio"):
            urls[name] = f"grpc://127.0.0.1:{platform.grpc_ports[name]}"
        elif mode == "connect":
            urls[name] = platform.url(name).replace("http://", "connect://")
    return urls


class Counting:
    """Counts the bytes each gRPC-capable upstream answers, by masked or whole."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.received: dict[str, int] = {}

    async def send(self, request: UpstreamRequest) -> UpstreamResponse:
        response: UpstreamResponse = await self.inner.send(request)
        if request.upstream in RPC:
            key = f"{request.upstream} {request.url.split('?')[0].rsplit('/', 2)[-2:][0]}"
            self.received[key] = self.received.get(key, 0) + len(response.body)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


class Grpcio:
    """grpcio's asyncio client as the ``grpc://`` wire of a BFF's gRPC transport: the peer the
    in-loop HTTP/2 client is measured against (the same request bytes and answer converter;
    statuses are not mapped, the benchmark's calls succeed)."""

    def __init__(self) -> None:
        self.channels: dict[str, Any] = {}
        self.calls: dict[tuple[str, str], Any] = {}

    @classmethod
    def install(cls, bff: Any) -> Grpcio:
        wire = cls()
        for inner in bff._client.transport.inner.routes.values():
            if isinstance(inner, GrpcTransport):
                inner._grpc = wire.call  # type: ignore[method-assign]
        return wire

    async def call(self, upstream: GrpcUpstream, request: UpstreamRequest) -> UpstreamResponse:
        import grpc

        binding, values, plan = upstream.request(request)
        payload = request_bytes(upstream.name, binding, values, plan)
        call = self.calls.get((upstream.name, binding.method))
        if call is None:
            channel = self.channels.get(upstream.name)
            if channel is None:
                options = (("grpc.enable_retries", 0),)
                channel = grpc.aio.insecure_channel(upstream.target, options=options)
                self.channels[upstream.name] = channel
            call = self.calls[(upstream.name, binding.method)] = channel.unary_unary(binding.method)
        metadata = [(k, v) for k, v in request.headers if k not in _NOT_METADATA]
        raw = await call(payload, timeout=request.timeout_s, metadata=metadata)
        return decoded(upstream.name, binding, plan, raw)

    async def aclose(self) -> None:
        for channel in self.channels.values():
            await channel.close()


async def bytes_saved(platform: Platform, token: str, secret: str) -> dict[str, int]:
    """Bytes of the home's gRPC answers (Connect wire) with the read masks its consumed structs
    ask for, and with the masks taken out (whole messages)."""
    bff = make(upstreams(platform, "connect"), "http1", secret=secret)
    resilient: Any = bff._client.transport  # type: ignore[union-attr]
    counting = Counting(resilient.inner)
    resilient.inner = counting
    out: dict[str, int] = {}
    try:
        await drive(bff, token, 1, 1)
        out["masked"] = sum(counting.received.values())
        counting.received.clear()
        for route in counting.inner.routes["users"].upstreams.values():
            for key, plan in route.plans.items():
                route.plans[key] = dataclasses.replace(plan, mask=(), mask_bytes=b"")
        await drive(bff, token, 1, 1)
        out["whole"] = sum(counting.received.values())
    finally:
        await bff.shutdown()
    return out


async def measure(platform: Platform, token: str, args: argparse.Namespace) -> dict[str, Any]:
    secret = token_client_secret(platform.seed, "bff-mobile")
    bffs = {m: make(upstreams(platform, m), "http1", secret=secret) for m in args.modes}
    if "grpcio" in bffs:
        grpcio = Grpcio.install(bffs["grpcio"])
    cpu: dict[str, list[float]] = {m: [] for m in args.modes}
    rps: dict[str, list[float]] = {m: [] for m in args.modes}
    served: dict[str, list[tuple[float, float]]] = {m: [] for m in args.modes}
    pids = [p.pid for p in map(platform.process, RPC) if p is not None]
    try:
        for bff in bffs.values():
            await drive(bff, token, 100, args.concurrency)  # warm: tokens, pools, converters
        for i in range(args.rounds):
            for mode, bff in bffs.items():
                before = service_usage(pids)
                us, per_s = await drive(bff, token, args.requests, args.concurrency)
                after = service_usage(pids)
                n = args.requests
                served[mode].append(((after[0] - before[0]) / n, (after[1] - before[1]) / n))
                cpu[mode].append(us)
                rps[mode].append(per_s)
            print(f"round {i + 1}: " + "  ".join(f"{m} {cpu[m][-1]:.0f} us" for m in cpu))
    finally:
        for bff in bffs.values():
            await bff.shutdown()
        if "grpcio" in bffs:
            await grpcio.aclose()
    out: dict[str, Any] = {
        m: {
            "cpu_us_per_home": round(statistics.median(cpu[m])),
            "homes_per_s": round(statistics.median(rps[m])),
            "service_cpu_us_per_home": round(statistics.median(u for u, _ in served[m])),
            "service_switches_per_home": round(statistics.median(n for _, n in served[m]), 1),
        }
        for m in args.modes
    }
    if "http" in out:
        for m in args.modes:
            out[m]["cpu_ratio_to_http"] = round(
                out[m]["cpu_us_per_home"] / out["http"]["cpu_us_per_home"], 3
            )
    out["read_mask_bytes"] = await bytes_saved(platform, token, secret)
    return out


def service_usage(pids: list[int]) -> tuple[float, float]:
    """The CPU time (us, user and system, all threads) and context switches (voluntary and
    not, all threads) of the processes ``pids``, so far."""
    tick_us = 1e6 / os.sysconf("SC_CLK_TCK")
    cpu_us = switches = 0.0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        cpu_us += (int(fields[11]) + int(fields[12])) * tick_us  # utime, stime
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):  # a thread gone meanwhile
                for line in (task / "status").read_text().splitlines():
                    if "ctxt_switches:" in line:
                        switches += int(line.split()[1])
    return cpu_us, switches


LABELS = {
    "http": "users and catalog as JSON over HTTP/1.1",
    "connect": "users and catalog over Connect (protobuf, HTTP/1.1)",
    "grpc": "users and catalog over gRPC (tailor's HTTP/2 client)",
    "grpcio": "users and catalog over gRPC (grpcio's asyncio client, a peer)",
}


def scenario_grpc(bench: Any, upstream: str, work: Path) -> dict[str, Any]:
    """The ``grpc`` scenario of ``make bench`` (benchmarks.run): this module's measurement,
    as a table of the run's report."""
    # At least 7 rounds: one round is 600 homes a mode, and on a calm machine a round's JSON
    # home alone has read anywhere from 663 to 1,100 us; three rounds left the median to chance.
    args = argparse.Namespace(
        rounds=max(7, bench.args.rounds), requests=600, concurrency=8, modes=list(MODES)
    )
    result = run_measurement(args, work / "grpc-home")
    against_node = rps_against_node(bench, upstream, work)
    rows = [
        {
            "key": mode,
            "label": LABELS[mode],
            "note": LABELS[mode],
            "cpu_us": result[mode]["cpu_us_per_home"],
            "homes_per_s": result[mode]["homes_per_s"],
            "ratios": {"http": result[mode]["cpu_ratio_to_http"]},
        }
        for mode in MODES
    ]
    return {
        "key": "grpc",
        "kind": "grpc",
        "title": "The home over gRPC",
        # What the terminal's tables head each scenario with (benchmarks.report.tables).
        "cpu": str(bench.contender_cpu),
        "path": contenders.HOME_PATH,
        "contenders": rows,
        "read_mask_bytes": result["read_mask_bytes"],
        # The row issue 15's budget applies to: the wire the demo runs.
        "target": DEMO_UPSTREAMS,
        "rounds": args.rounds,
        "requests": args.requests,
        "against_node": against_node,
    }


def rps_against_node(bench: Any, upstream: str, work: Path) -> dict[str, Any]:
    """The home's closed-loop rate with users and catalog over the demo's wire (the mobile BFF
    process on the contender's core, those two from :mod:`benchmarks.grpc_replay` on the load
    core, the rest from the fixture nginx) against Node fastify + undici's (every service from
    the nginx, JSON), interleaved rounds in this run: both medians and their ratio."""
    files = work / "grpc-replay-files.json"
    files.write_text(json.dumps({path: str(file) for path, file in bench.fx.files.items()}))
    ports = dict(zip(RPC, free_ports(len(RPC)), strict=True))
    from benchmarks.run import fetch  # run imports this module

    bench.procs.start(
        "grpc-replay",
        [sys.executable, "-m", "benchmarks.grpc_replay", "--files", str(files),
         f"--wire={DEMO_UPSTREAMS}",
         *(f"--port={name}={port}" for name, port in ports.items())],
        cpu=bench.load_cpu,
        cwd=ROOT,
    )  # fmt: skip
    for port in ports.values():
        _wait_listening(bench, "grpc-replay", port)
    cpu = str(bench.contender_cpu)
    rpc = {name: f"{DEMO_UPSTREAMS}://127.0.0.1:{port}" for name, port in ports.items()}
    cs = [contenders.tailor_full(upstream, work, cpu, rpc=rpc), contenders.node(upstream, cpu)]
    bench.start("grpc", cs, cpu)
    try:
        # The same home whichever wire users and catalog answer on, and complete.
        reference = json.loads(fetch(cs[1].url, bench.token, cs[1].name, bench.procs))
        bench.same_json("grpc", cs, reference)
        summary = bench.closed_loop("grpc", cs, ratios=("node",))
    finally:
        bench.stop(cs)
        bench.procs.stop("grpc-replay")
    tailor, node = (summary[c.key] for c in cs)
    return {
        "tailor_rps": tailor["rps"],
        "node_rps": node["rps"],
        "ratio_to_node": tailor["ratios"]["node"],
        "tailor_errors": tailor["errors"],
        "labels": {"tailor": cs[0].label, "node": cs[1].label},
    }


def _wait_listening(bench: Any, name: str, port: int, timeout_s: float = 30.0) -> None:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return
        time.sleep(0.1)
    raise RuntimeError(f"{name} is not listening on {port}:\n{bench.procs.log_tail(name)}")


def run_measurement(args: argparse.Namespace, data: Path) -> dict[str, Any]:
    """Start the services, log alice in, measure every mode (pinned to core 0)."""
    with Platform(data, ephemeral=True, scale=2000, components="services") as platform:
        if platform.failures:
            raise RuntimeError([f.describe() for f in platform.failures.values()])
        token, _ = asyncio.run(fixture._record_home(platform))
        before = os.sched_getaffinity(0)
        os.sched_setaffinity(0, {0})
        try:
            return uvloop.run(measure(platform, token, args))
        finally:
            os.sched_setaffinity(0, before)


#: The modes --instructions counts (grpcio's calls miss the home's deadline under valgrind).
COUNTABLE = ("http", "connect", "grpc")
#: The homes of the two counted runs of --instructions (after the same warm-up).
COUNTED = (20, 60)
_COLLECTED = re.compile(r"Collected : (\d+)")


def count_instructions(platform: Platform, token: str, modes: list[str]) -> dict[str, int]:
    """Instructions of the BFF per home, by mode (see the module's docstring)."""
    secret = token_client_secret(platform.seed, "bff-mobile")
    out: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as work:
        for mode in modes:
            spec = Path(work) / f"{mode}.json"
            spec.write_text(json.dumps({"upstreams": upstreams(platform, mode), "token": token,
                                        "secret": secret}))  # fmt: skip
            totals = []
            for homes in COUNTED:
                argv = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
                        sys.executable, "-m", "benchmarks.grpc_home", "--child", str(spec),
                        "--requests", str(homes)]  # fmt: skip
                env = {**os.environ, "PYTHONHASHSEED": "0"}  # the same dict layouts each run
                done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=1800)
                found = _COLLECTED.search(done.stderr)
                if done.returncode != 0 or found is None:
                    raise RuntimeError(f"{mode}: the counted run failed:\n{done.stderr[-3000:]}")
                totals.append(int(found.group(1)))
            out[mode] = (totals[1] - totals[0]) // (COUNTED[1] - COUNTED[0])
            print(f"{mode}: {out[mode]:,} instructions per home", flush=True)
    return out


async def child(spec: dict[str, Any], homes: int) -> None:
    """The counted BFF: 10 homes of warm-up, then ``homes``, one at a time."""
    bff = make(spec["upstreams"], "http1", secret=spec["secret"], config=STEADY)
    try:
        await drive(bff, spec["token"], 10, 1)
        await drive(bff, spec["token"], homes, 1)
    finally:
        await bff.shutdown()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.grpc_home")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=600)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--modes", default=None, help=f"default: {','.join(MODES)}")
    parser.add_argument("--no-save", action="store_true")
    parser.add_argument("--instructions", action="store_true", help="count with callgrind")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.modes = (args.modes or ",".join(COUNTABLE if args.instructions else MODES)).split(",")
    if args.child:
        uvloop.run(child(json.loads(Path(args.child).read_text()), args.requests))
        return 0
    if args.instructions:
        if shutil.which("valgrind") is None:
            raise SystemExit("--instructions needs valgrind: apt-get install -y valgrind")
        with (
            tempfile.TemporaryDirectory() as data,
            Platform(data, ephemeral=True, scale=2000, components="services") as platform,
        ):
            token, _ = asyncio.run(fixture._record_home(platform))
            counts = count_instructions(platform, token, args.modes)
        base = counts.get("http")
        ratios = {m: round(n / base, 3) for m, n in counts.items()} if base else {}
        print(json.dumps({"instructions_per_home": counts, "ratio_to_http": ratios}, indent=2))
        return 0
    with (
        tempfile.TemporaryDirectory() as data,
        Platform(data, ephemeral=True, scale=2000, components="services") as platform,
    ):
        if platform.failures:
            raise SystemExit([f.describe() for f in platform.failures.values()])
        token, _ = asyncio.run(fixture._record_home(platform))
        os.sched_setaffinity(0, {0})
        result = uvloop.run(measure(platform, token, args))
    print(json.dumps(result, indent=2))
    if not args.no_save:
        RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
