"""The edge benchmark (issue 5): tailor against the same endpoints written without it, same
upstream bytes, every scenario in one run with interleaved rounds (A B C A B C).

    python -m benchmarks.run            # 3 rounds x 10 s per contender (make bench), ~19 min,
                                        # + overload ~5 min + soak ~12 min
    python -m benchmarks.run --quick    # 1 round x 1 s, a fast check (about a minute; leaves
                                        # docs/ and results/latest.json as they are)
    python -m benchmarks.run --scenarios home,cache

Scenarios: ``home`` (the aggregated mobile home, five contenders, one worker each, RSS after
``--memory-seconds`` at peak); ``passthrough`` (one upstream GET relayed: tailor, Node, nginx
proxy_pass); ``cache`` (the mobile BFF answering the home from its edge cache vs nginx serving
the same bytes from a file); ``compression`` (the home's bytes and CPU per content coding,
and a compressed cache hit's CPU over an identity hit's: benchmarks/compression.py);
``workers2`` (the home with two workers on both cores);
``latency`` (upstreams answering after 20 ms: each contender's closed-loop peak there, then
open-loop load at half of it, overhead above the 60 ms critical path; tailor's full pipeline
also at half of its peak from ``home``, or without ``home`` in the run from the committed
``benchmarks/results/latest.json``); ``overload`` (tailor and Node at twice their peak, open
loop, kept-alive and with a new connection per request: answers within the deadline, shed
answers' p99, requests unanswered past twice the deadline); ``soak`` (tailor at 70% of its peak
for ``--soak-seconds``: RSS growth after warm-up, 5xx). Both in benchmarks/overload.py.
``http2`` (h2load for both protocols: the cache hit over h2c and over HTTP/1.1, granian's
HTTP/2 answering the same bytes, and the home over h2c and HTTP/1.1; rate and CPU per answer).
``grpc`` (the home with users and catalog over JSON, Connect and gRPC against the real
services, CPU per home in-process; then the mobile BFF process with users and catalog over gRPC
from benchmarks/grpc_replay.py against Node, closed loop: benchmarks/grpc_home.py).

Layout on a 2-core machine: the contender has core 0 to itself (``taskset -c 0``); the
upstream nginx (for ``latency``, a second nginx holding each answer 20 ms with the echo
module's ``echo_sleep``) and the load generator share core 1. With two workers the contender
gets cores 0 and 1 and shares core 1 with them. Writes ``benchmarks/results/latest.json`` and
renders ``docs/benchmarks.md`` and ``docs/benchmarks.svg``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shlex
import signal
import statistics
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks import (
    contenders,
    fixture,
    grpc_home,
    h2load,
    openloop,
    overload,
    report,
    svg,
    tools,
    wrk,
)
from benchmarks.compression import scenario as scenario_compression
from benchmarks.contenders import HOME_PATH, PASS_PATH, Contender
from benchmarks.procs import Processes

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "latest.json"
DOCS = ROOT / "docs" / "benchmarks.md"
PLOT = ROOT / "docs" / "benchmarks.svg"
CONTENDER_CPU = 0
LOAD_CPU = 1  # the upstream nginx (static and delaying) and the load generator
SCENARIOS = (
    "home",
    "passthrough",
    "cache",
    "compression",
    "workers2",
    "latency",
    "http2",
    "overload",
    "soak",
    "grpc",
)


_began = time.monotonic()


def say(text: str) -> None:
    print(f"[{time.monotonic() - _began:6.1f}s] {text}", flush=True)


def fetch(url: str, token: str, name: str, procs: Processes) -> bytes:
    req = urllib.request.Request(url, headers={"authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return bytes(resp.read())
    except urllib.error.HTTPError as exc:
        body = exc.read()[:500].decode(errors="replace")
        raise RuntimeError(
            f"{name} answered {exc.code} to GET {url}: {body}\n{procs.log_tail(name)}"
        ) from exc


def fetch_with_headers(url: str, token: str) -> tuple[bytes, list[tuple[str, str]]]:
    """A 200 body and the headers the app set (not the server's own: date, length, server)."""
    req = urllib.request.Request(url, headers={"authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        body = bytes(resp.read())
        server_set = {"date", "content-length", "server", "connection"}
        return body, [(k.lower(), v) for k, v in resp.getheaders() if k.lower() not in server_set]


def _diff(a: Any, b: Any, path: str = "$") -> str | None:
    """Where two parsed JSON values first differ, or None."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            if key not in a or key not in b:
                return f"{path}.{key}: present in only one ({'left' if key in a else 'right'})"
            found = _diff(a[key], b[key], f"{path}.{key}")
            if found:
                return found
        return None
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return f"{path}: {len(a)} items vs {len(b)}"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            found = _diff(x, y, f"{path}[{i}]")
            if found:
                return found
        return None
    return None if a == b and type(a) is type(b) else f"{path}: {a!r} vs {b!r}"


RATIO_NAMES = {"node": "Node", "fastapi-aiohttp": "FastAPI + aiohttp", "nginx": "nginx"}


def summarize(
    rounds: dict[str, list[wrk.WrkResult]], ratios: tuple[str, ...]
) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for key, results in rounds.items():
        out[key] = {
            "rps": statistics.median(r.rps for r in results),
            "p50_ms": statistics.median(r.p50_ms for r in results),
            "p99_ms": statistics.median(r.p99_ms for r in results),
            "cpu_pct": statistics.median(r.contender_cpu_pct for r in results),
            "errors": sum(r.non_2xx + r.socket_errors + r.timeouts for r in results),
        }
    for summary in out.values():
        summary["ratios"] = {
            base: summary["rps"] / out[base]["rps"] if out.get(base, {}).get("rps") else 0.0
            for base in ratios
        }
    return out


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--quick", action="store_true", help="1 round x 1 s, 1 s warm-ups; implies --no-docs"
    )
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default 3)")
    parser.add_argument("--duration", type=float, help="seconds per load run (default 10)")
    parser.add_argument("--warmup", type=float, help="warm-up seconds per contender (default 15)")
    parser.add_argument("--connections", type=int, default=64, help="wrk -c (default 64)")
    parser.add_argument(
        "--scenarios",
        default=",".join(SCENARIOS),
        help=f"comma-separated subset of {','.join(SCENARIOS)} (default: all)",
    )
    parser.add_argument(
        "--memory-seconds",
        type=float,
        help="RSS is read after each home contender has had this many seconds of peak load "
        "in total (rounds + warm-up + a top-up run; default 60, --quick 0: no top-up)",
    )
    parser.add_argument("--delay-ms", type=int, default=20, help="latency variant delay (20)")
    parser.add_argument(
        "--soak-seconds", type=float, help="soak length after its warm-up (600; --quick 3)"
    )
    parser.add_argument(
        "--soak-segment-seconds",
        type=float,
        default=overload.SOAK_SEGMENT_S,
        help="the soak's segments, RSS and 5xx reasons read after each (60)",
    )
    parser.add_argument(
        "--no-docs",
        action="store_true",
        help="leave docs/ and benchmarks/results/latest.json alone (result JSON to $TMPDIR)",
    )
    args = parser.parse_args(argv)
    # A quick check's numbers are too short-lived to replace the committed full run.
    args.no_docs = args.no_docs or args.quick
    args.rounds = args.rounds or (1 if args.quick else 3)
    args.duration = args.duration or (1.0 if args.quick else 10.0)
    # 15 s: with 5 s, Node's rounds still climbed round after round (1,190 -> 1,440 rps in one
    # run; its JIT and heap were still settling), which flattered every ratio against it.
    args.warmup = args.warmup if args.warmup is not None else (1.0 if args.quick else 15.0)
    # Open-loop runs are shorter in --quick: the home JSON check has already warmed them.
    args.latency_seconds = 1.0 if args.quick else args.duration
    args.latency_warmup = 0.5 if args.quick else min(args.warmup, 3.0)
    # Each round's closed-loop peak before the open-loop run at half of it.
    args.latency_peak_seconds = 1.0 if args.quick else args.duration / 2
    # Before each measured round, unmeasured, at the same rate and on the same connections (the
    # generator's --warmup): a contender has sat idle while the others ran (~40 s), and this
    # scenario measures steady state, not the first requests after idling (for tailor: internal
    # tokens and app lookups renewed through the 20 ms upstream; without this the full
    # pipeline's p99 showed about +70 ms from it) nor a connection opened per request until the
    # first answers come back (+10 to +17 ms over the first 0.3 s when a separate run warmed up).
    args.latency_rewarm = 0.3 if args.quick else 2.0
    # Overload: each variant's open-loop run, after a warm-up at the same rate that counts nowhere.
    args.overload_seconds = 1.0 if args.quick else args.duration
    args.overload_warmup = 0.3 if args.quick else 2.0
    args.soak_seconds = args.soak_seconds or (3.0 if args.quick else 600.0)
    if args.memory_seconds is None:
        args.memory_seconds = 0.0 if args.quick else 60.0
    args.scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = set(args.scenarios) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    return args


class Bench:
    """One run: the processes, the settings, the recorded fixture and the caller's token."""

    # For the scenarios in modules of their own (benchmarks/overload.py): what this one uses.
    say = staticmethod(say)
    contender_cpu = CONTENDER_CPU
    load_cpu = LOAD_CPU

    def __init__(self, args: argparse.Namespace, procs: Processes, fx: fixture.Fixture) -> None:
        self.args = args
        self.procs = procs
        self.fx = fx
        self.token = fx.token

    def start(self, scenario: str, contenders: list[Contender], cpu: str) -> None:
        for c in contenders:
            if c.name:
                continue  # started by the scenario itself
            c.name = f"{scenario}-{c.key}"
            say(f"{scenario}: starting {c.key} on 127.0.0.1:{c.port} (cores {cpu}, "
                f"{c.workers} worker{'s' if c.workers > 1 else ''})")  # fmt: skip
            c.start(self.procs, c.name)
            # With several workers the admin port or a supervisor may answer before every
            # worker listens on the serving port: wait for that port too.
            self.procs.wait_http(c.name, f"http://127.0.0.1:{c.port}/nope")

    def same_json(self, scenario: str, contenders: list[Contender], reference: Any) -> None:
        """Every contender's answer parses to ``reference``, or the run fails."""
        for c in contenders:
            found = _diff(reference, json.loads(fetch(c.url, self.token, c.name, self.procs)))
            if found:
                raise RuntimeError(f"{scenario}: {c.key} answers different JSON: {found}")
        say(f"{scenario}: every contender answers the same JSON")

    def wrk(
        self,
        c: Contender,
        seconds: float,
        cpu: int,
        *,
        measure: bool,
        headers: tuple[str, ...] = (),
    ) -> wrk.WrkResult:
        pgid = self.procs.started[c.name].pid if measure else None
        return wrk.run(c.url, token=self.token, seconds=seconds, cpu=cpu, pgid=pgid,
                       connections=self.args.connections, headers=headers)  # fmt: skip

    def closed_loop(
        self,
        scenario: str,
        contenders: list[Contender],
        *,
        ratios: tuple[str, ...],
        load_cpu: int = LOAD_CPU,
        memory: bool = False,
    ) -> dict[str, dict[str, Any]]:
        """Warm up, then interleaved wrk rounds (A B C A B C); medians and ratios. With
        ``memory``, each contender is topped up to ``--memory-seconds`` of peak load in
        total and its processes' RSS read."""
        a = self.args
        for c in contenders:
            say(f"{scenario}: warm-up {c.key} {a.warmup:g} s")
            self.wrk(c, a.warmup, load_cpu, measure=False)
        rounds: dict[str, list[wrk.WrkResult]] = {c.key: [] for c in contenders}
        for n in range(1, a.rounds + 1):
            for c in contenders:
                r = self.wrk(c, a.duration, load_cpu, measure=True)
                rounds[c.key].append(r)
                errors = r.non_2xx + r.socket_errors + r.timeouts
                say(
                    f"{scenario}: round {n}/{a.rounds} {c.key:<15} {r.rps:>9,.0f} rps  "
                    f"p50 {r.p50_ms:7.2f} ms  p99 {r.p99_ms:8.2f} ms  "
                    + f"own cpu {r.contender_cpu_pct:.0f}%  busy "
                    + " ".join(f"{k} {v:.0f}%" for k, v in r.cpu_busy_pct.items())
                    + (f"  errors {errors}" if errors else "")
                )
        summary = summarize(rounds, ratios)
        for c in contenders:
            summary[c.key]["rounds"] = [r.as_dict() for r in rounds[c.key]]
        if memory:
            for c in contenders:
                summary[c.key]["memory"] = self.memory(scenario, c)
        return summary

    def memory(self, scenario: str, c: Contender) -> dict[str, Any]:
        a = self.args
        under_load = a.warmup + a.rounds * a.duration
        top_up = a.memory_seconds - under_load
        if top_up >= 1:
            say(f"{scenario}: {c.key} {top_up:g} s more at peak, then its RSS")
            self.wrk(c, top_up, LOAD_CPU, measure=False)
            under_load += round(top_up)
        rss = self.procs.rss_kb(c.name)
        mb = sorted((round(kb / 1024, 1) for kb in rss.values()), reverse=True)
        say(f"{scenario}: {c.key} RSS after {under_load:g} s at peak: "
            + " + ".join(f"{m:g} MB" for m in mb))  # fmt: skip
        return {"seconds_at_peak": under_load, "process_rss_mb": mb,
                "largest_mb": mb[0] if mb else 0.0, "total_mb": round(sum(mb), 1)}  # fmt: skip

    def stop(self, contenders: list[Contender]) -> None:
        for c in contenders:
            self.procs.stop(c.name)


def _table(
    key: str,
    title: str,
    contenders: list[Contender],
    summary: dict[str, dict[str, Any]],
    **extra: Any,
) -> dict[str, Any]:
    return {
        "key": key,
        "title": title,
        **extra,
        "contenders": [
            {"key": c.key, "label": c.label, "note": c.note, "workers": c.workers, **summary[c.key]}
            for c in contenders
        ],
    }


def scenario_home(b: Bench, upstream: str, work: Path) -> dict[str, Any]:
    cpu = str(CONTENDER_CPU)
    cs = [
        contenders.tailor_full(upstream, work, cpu),
        contenders.tailor_bare(upstream, cpu),
        contenders.fastapi_aiohttp(upstream, cpu),
        contenders.fastapi_httpx(upstream, cpu),
        contenders.node(upstream, cpu),
    ]
    b.start("home", cs, cpu)
    reference = json.loads(fetch(cs[0].url, b.token, cs[0].name, b.procs))
    if "degraded" in reference:
        raise RuntimeError(f"tailor answered a degraded home: {reference['degraded']}")
    b.same_json("home", cs, reference)
    summary = b.closed_loop("home", cs, ratios=("node", "fastapi-aiohttp"), memory=True)
    b.stop(cs)
    table = _table("home", "Mobile home, 1 worker", cs, summary, cpu=cpu, path=HOME_PATH)
    table["home_bytes"] = len(json.dumps(reference, separators=(",", ":")))
    return table


def scenario_workers2(b: Bench, upstream: str, work: Path) -> dict[str, Any]:
    cpu = f"{CONTENDER_CPU},{LOAD_CPU}"
    cs = [
        contenders.tailor_full(upstream, work, cpu, workers=2),
        contenders.tailor_bare(upstream, cpu, workers=2),
        contenders.fastapi_aiohttp(upstream, cpu, workers=2),
        contenders.node(upstream, cpu, workers=2),
    ]
    b.start("workers2", cs, cpu)
    b.same_json("workers2", cs, json.loads(fetch(cs[0].url, b.token, cs[0].name, b.procs)))
    summary = b.closed_loop("workers2", cs, ratios=("node",))
    b.stop(cs)
    return _table("workers2", "Mobile home, 2 workers", cs, summary, cpu=cpu, path=HOME_PATH)


def scenario_passthrough(b: Bench, upstream: str, work: Path) -> dict[str, Any]:
    cpu = str(CONTENDER_CPU)
    cs = [
        contenders.tailor_passthrough(upstream, cpu),
        contenders.node(upstream, cpu, path=PASS_PATH),
        contenders.nginx_proxy(upstream, work, cpu),
    ]
    b.start("passthrough", cs, cpu)
    recorded = fetch(upstream + PASS_PATH.removeprefix("/v1"), b.token, "nginx", b.procs)
    b.same_json("passthrough", cs, json.loads(recorded))
    summary = b.closed_loop("passthrough", cs, ratios=("node", "nginx"))
    b.stop(cs)
    return _table(
        "passthrough", "Single pass-through", cs, summary, cpu=cpu, path=PASS_PATH,
        body_bytes=len(recorded),
    )  # fmt: skip


def scenario_cache(b: Bench, upstream: str, work: Path) -> dict[str, Any]:
    cpu = str(CONTENDER_CPU)
    tailor = contenders.tailor_full(upstream, work, cpu, cache=True)
    b.start("cache", [tailor], cpu)
    fetch(tailor.url, b.token, tailor.name, b.procs)  # fills the cache
    body, headers = fetch_with_headers(tailor.url, b.token)
    cs = [
        tailor,
        contenders.http1_floor(work, cpu, body, headers),
        contenders.granian_floor(work, cpu, body, headers),
        contenders.nginx_static(work, cpu, body),
    ]
    b.start("cache", cs, cpu)
    b.same_json("cache", cs, json.loads(body))
    summary = b.closed_loop("cache", cs, ratios=("nginx", "floor"))
    b.stop(cs)
    return _table("cache", "Cache hit", cs, summary, cpu=cpu, path=HOME_PATH, body_bytes=len(body))


#: h2load's load in the http2 scenario: connections, and requests in flight on each (HTTP/2
#: streams, or HTTP/1.1 pipelined requests with --h1), as the issue's ``h2load -m10``.
H2LOAD_CONNECTIONS, H2LOAD_STREAMS = 16, 10


def scenario_http2(b: Bench, upstream: str, work: Path) -> dict[str, Any]:
    """HTTP/2 against HTTP/1.1 on tailor's server, h2load driving both: the cache hit over
    h2c and over HTTP/1.1, granian's HTTP/2 answering the same bytes, the home (edge cache off)
    over h2c and over HTTP/1.1. Interleaved rounds; rate and the contender's CPU per answer."""
    cpu = str(CONTENDER_CPU)
    hit = contenders.tailor_full(upstream, work, cpu, cache=True)
    home = contenders.tailor_full(upstream, work, cpu)
    b.start("http2", [hit, home], cpu)
    fetch(hit.url, b.token, hit.name, b.procs)  # fills the cache
    body, headers = fetch_with_headers(hit.url, b.token)
    granian = contenders.granian_h2_floor(work, cpu, body, headers)
    granian.name = "http2-granian-h2"
    say(f"http2: starting granian-h2 on 127.0.0.1:{granian.port} (core {cpu})")
    granian.start(b.procs, granian.name)
    runs = [
        ("tailor-cache-h2c", "tailor cache hit, h2c", hit, False),
        ("tailor-cache-h1", "tailor cache hit, HTTP/1.1", hit, True),
        ("granian-h2", granian.label, granian, False),
        ("tailor-home-h2c", "tailor home, h2c", home, False),
        ("tailor-home-h1", "tailor home, HTTP/1.1", home, True),
    ]
    a = b.args

    def load(c: contenders.Contender, http1: bool, seconds: float) -> h2load.H2loadResult:
        return h2load.run(
            c.url, seconds=seconds, token=b.token, cpu=LOAD_CPU, http1=http1,
            connections=H2LOAD_CONNECTIONS, streams=H2LOAD_STREAMS,
            pgid=b.procs.started[c.name].pid,
        )  # fmt: skip

    for key, _, c, http1 in runs:
        say(f"http2: warm-up {key} {a.warmup:g} s")
        load(c, http1, a.warmup)
    rounds: dict[str, list[h2load.H2loadResult]] = {key: [] for key, *_ in runs}
    for n in range(1, a.rounds + 1):
        for key, _, c, http1 in runs:
            r = load(c, http1, a.duration)
            rounds[key].append(r)
            say(f"http2: round {n}/{a.rounds} {key:<17} {r.rps:>9,.0f} rps  "
                f"{r.cpu_us_per_request:6.1f} us CPU/answer  failed {r.failed}")  # fmt: skip
    b.stop([hit, home, granian])
    rows = []
    for key, label, _, _ in runs:
        rs = rounds[key]
        rows.append({
            "key": key, "label": label, "note": "",
            "rps": statistics.median(r.rps for r in rs),
            "cpu_us": statistics.median(r.cpu_us_per_request for r in rs),
            "failed": sum(r.failed for r in rs),
            "errors": sum(r.failed for r in rs),
            "rounds": [r.as_dict() for r in rs],
        })  # fmt: skip
    by = {r["key"]: r for r in rows}

    def ratio(key: str, base: str) -> dict[str, float]:
        k, o = by[key], by[base]
        return {"rps": k["rps"] / o["rps"] if o["rps"] else 0.0,
                "cpu": o["cpu_us"] / k["cpu_us"] if k["cpu_us"] else 0.0}  # fmt: skip

    return {
        "key": "http2", "kind": "h2load", "title": "HTTP/2 and HTTP/1.1, h2load",
        "cpu": cpu, "path": HOME_PATH, "body_bytes": len(body),
        "connections": H2LOAD_CONNECTIONS, "streams": H2LOAD_STREAMS,
        "contenders": rows,
        "ratios": {
            "cache hit, h2c vs HTTP/1.1": ratio("tailor-cache-h2c", "tailor-cache-h1"),
            "cache hit, h2c vs granian HTTP/2": ratio("tailor-cache-h2c", "granian-h2"),
            "home, h2c vs HTTP/1.1": ratio("tailor-home-h2c", "tailor-home-h1"),
        },
    }  # fmt: skip


#: wrk connections for each contender's closed-loop peak over the delaying upstream. A home holds
#: a connection for its 60 ms critical path, so 256 allow about 4,200 homes a second, above
#: every contender's peak in the home table; in a run trying 128 as well, 256 gave every stack
#: its better rate (tailor 2,987 against 1,955, which 128 connections cap near 2,100; Node
#: 1,460 against 1,397; FastAPI + aiohttp 841 against 748). Node's peak there is not all CPU
#: (its worker 68-81% busy, the others 95-100%): half of it is half of what it serves.
LATENCY_PEAK_CONNECTIONS = 256


def scenario_latency(
    b: Bench, fx: fixture.Fixture, work: Path, peaks: dict[str, float]
) -> dict[str, Any]:
    """The home over upstreams that answer after ``--delay-ms``. In each round, per contender:
    its closed-loop peak there, then open-loop load at half of that peak; overhead above the
    critical path (3 waves x delay). tailor's full pipeline also runs at half of its peak from
    the home table (``peaks``, upstreams answering at once), the load this scenario used before
    it measured its own (reported, not a target)."""
    a = b.args
    cpu = str(CONTENDER_CPU)
    # nginx holding each recorded answer with echo_sleep, a timer in its C event loop: on the
    # core it shares with the generator it takes about 6% where the Node setTimeout server it
    # replaced took 8-10%, and it has no garbage collector. (The floor's jitter was mostly the
    # old Node generator's own; the C one sends within about 0.1 ms of each due time: see "the
    # 20 ms variant's harness" in docs/benchmarks.md.)
    upstream = fixture.serve(fx, b.procs, LOAD_CPU, delay_ms=a.delay_ms, name="latency-upstream")
    say(f"latency: the delaying upstream (nginx, echo_sleep {a.delay_ms} ms) serves the fixture "
        f"on {upstream} (core {LOAD_CPU}, 1 worker)")  # fmt: skip
    up_pgid = b.procs.started["latency-upstream"].pid
    cs = [
        contenders.tailor_full(upstream, work, cpu),
        contenders.tailor_bare(upstream, cpu),
        contenders.fastapi_aiohttp(upstream, cpu),
        contenders.node(upstream, cpu),
    ]
    b.start("latency", cs, cpu)
    b.same_json("latency", cs, json.loads(fetch(cs[0].url, b.token, cs[0].name, b.procs)))
    critical = 3 * a.delay_ms
    for c in cs:
        say(f"latency: warm-up {c.key}, closed loop, {a.latency_warmup:g} s")
        wrk.run(c.url, seconds=a.latency_warmup, connections=LATENCY_PEAK_CONNECTIONS,
                token=b.token, cpu=LOAD_CPU)  # fmt: skip
    full = cs[0]
    full_pgid = b.procs.started[full.name].pid
    home_half = max(20.0, round(peaks["tailor"] / 2)) if "tailor" in peaks else None
    floor_url = upstream + "/users/" + fixture.USER_ID
    critical_url = upstream + fixture.CRITICAL + "/users/" + fixture.USER_ID
    # the rows measured through a stack (the net p50 is theirs), then the harness floors
    stacks = [c.key for c in cs] + (["tailor-home-half"] if home_half else [])
    keys = [*stacks, "floor-critical", "floor"]
    rounds: dict[str, list[dict[str, Any]]] = {k: [] for k in keys}

    def measure(
        n: int, key: str, url: str, rate: float, pgid: int | None, path_ms: float
    ) -> dict[str, Any]:
        # Each measured run follows an unmeasured stretch at the same rate on the same
        # connections (the generator's --warmup): steady state, not the first requests after
        # the peak run or after idling while the others ran.
        groups = {"upstream": up_pgid, **({"contender": pgid} if pgid else {})}
        r = openloop.run(url, rate=rate, seconds=a.latency_seconds, warmup=a.latency_rewarm,
                         token=b.token, cpu=LOAD_CPU, pgids=groups)  # fmt: skip
        r["p50_over_ms"] = r["p50_ms"] - path_ms
        r["p99_over_ms"] = r["p99_ms"] - path_ms
        rounds[key].append(r)
        say(
            f"latency: round {n}/{a.rounds} {key:<16} {r['rps']:>7,.0f} of {rate:g} rps  "
            f"p50 {r['p50_ms']:6.2f} ms ({r['p50_over_ms']:+.2f})  "
            f"p99 {r['p99_ms']:6.2f} ms ({r['p99_over_ms']:+.2f})  "
            f"own cpu {r.get('contender_cpu_pct', 0):.0f}%  "
            f"upstream cpu {r['upstream_cpu_pct']:.0f}%"
            + (f"  errors {r['errors']} {r.get('failures', {})}" if r["errors"] else "")
            + (f"  warm-up errors {r['warmup_errors']}" if r.get("warmup_errors") else "")
        )
        return r

    for n in range(1, a.rounds + 1):
        tailor_rate = 0.0
        for c in cs:
            # The peak is measured again in every round, just before the load at half of it: on
            # a shared machine the CPU a home costs drifts between rounds (tailor's worker at
            # one fixed rate: 50%, 76% and 67% busy in three rounds, the upstream nginx's CPU
            # moving with it), and a rate fixed once is half of peak only while the machine
            # stays as fast as it was when the peak was taken.
            pgid = b.procs.started[c.name].pid
            w = wrk.run(c.url, seconds=a.latency_peak_seconds,
                        connections=LATENCY_PEAK_CONNECTIONS, token=b.token, cpu=LOAD_CPU,
                        pgid=pgid)  # fmt: skip
            peak = w.rps * (1 - w.non_2xx / w.requests) if w.requests else 0.0  # 2xx only
            rate = max(20.0, round(peak / 2))
            say(f"latency: round {n}/{a.rounds} {c.key:<16} peak {peak:,.0f} rps closed loop "
                f"({LATENCY_PEAK_CONNECTIONS} connections, own cpu {w.contender_cpu_pct:.0f}%"
                + (f", non-2xx {w.non_2xx}" if w.non_2xx else "") + ")")  # fmt: skip
            measure(n, c.key, c.url, rate, pgid, critical)["peak"] = {**w.as_dict(), "ok_rps": peak}
            if c is full:
                tailor_rate = rate
        if home_half:
            measure(n, "tailor-home-half", full.url, home_half, full_pgid, critical)
        # The harness floors at tailor's rate: one direct GET on the delaying upstream held for
        # the home's whole critical path, in flight as long as a home (what this machine's
        # stalls do to such a request with no contender at all), and one held for one delay.
        measure(n, "floor-critical", critical_url, tailor_rate, None, float(critical))
        floor = measure(n, "floor", floor_url, tailor_rate, None, float(a.delay_ms))
        # The delaying upstream's timer, the generator and the shared core add the floor's
        # overhead to each of the three waves; what is left at p50 is the contender's own. The
        # floor ran at tailor's rate in this round, and nginx's millisecond clock moves its p50
        # with the rate, so each round's stacks are netted with that round's floor.
        for key in stacks:
            rounds[key][-1]["p50_net_ms"] = (
                rounds[key][-1]["p50_over_ms"] - 3 * floor["p50_over_ms"]
            )
    b.stop(cs)
    b.procs.stop("latency-upstream")
    labels = {c.key: (c.label, c.note) for c in cs}
    labels["tailor-home-half"] = (
        f"{full.label}, at half of its home-table peak",
        "the same process at the load this scenario used before it measured each stack's peak "
        "over the delaying upstream (reported, not a target)",
    )
    labels["floor-critical"] = (
        "harness floor, the whole critical path in one GET (no contender)",
        f"one hop held {critical} ms, at tailor's rate",
    )
    labels["floor"] = (
        "harness floor (one direct GET, no contender)",
        f"one hop, critical path {a.delay_ms} ms, at tailor's rate",
    )
    rows = []
    for key in keys:
        rs = rounds[key]

        def med(field: str, rs: list[dict[str, Any]] = rs) -> float:
            return float(statistics.median(float(r.get(field, 0.0)) for r in rs))

        path_ms = float(a.delay_ms) if key == "floor" else float(critical)  # floor-critical too
        peak_rps = (
            float(statistics.median(r["peak"]["ok_rps"] for r in rs))
            if rs and "peak" in rs[0]
            else None
        )
        # Each column is its own median over the rounds (the rounds ran at different rates).
        rows.append({
            "key": key, "label": labels[key][0], "note": labels[key][1], "rate": med("rate"),
            "peak_rps": peak_rps, "critical_path_ms": path_ms, "rps": med("rps"),
            "p50_ms": med("p50_ms"), "p99_ms": med("p99_ms"), "p50_over_ms": med("p50_over_ms"),
            "p99_over_ms": med("p99_over_ms"), "cpu_pct": med("contender_cpu_pct"),
            "upstream_cpu_pct": med("upstream_cpu_pct"),
            **({"p50_net_ms": med("p50_net_ms")} if key in stacks else {}),
            "errors": sum(int(r["errors"]) for r in rs), "rounds": rs,
        })  # fmt: skip
    return {
        "key": "latency",
        "title": f"{a.delay_ms} ms upstream latency, half of peak load",
        "kind": "openloop",
        "cpu": cpu,
        "path": HOME_PATH,
        "delay_ms": a.delay_ms,
        # which delaying upstream measured this (the report describes older results' Node one)
        "upstream": "nginx-echo",
        # how each rate was chosen (absent: half of the home table's peak, before 2026-12-05)
        "rate_basis": "own-peak-per-round",
        "peak_connections": LATENCY_PEAK_CONNECTIONS,
        "critical_path_ms": critical,
        "contenders": rows,
    }


def committed_peaks() -> dict[str, float]:
    """Each contender's peak rps in the committed run's one-worker home table: without the
    home in this run, the latency scenario loads tailor's full pipeline at half of its peak
    there in a row of its own."""
    try:
        result = json.loads(RESULTS.read_text())
    except (OSError, ValueError):
        return {}
    for table in result.get("scenarios", []):
        if table.get("key") == "home":
            return {c["key"]: float(c["rps"]) for c in table["contenders"]}
    return {}


def run(args: argparse.Namespace, argv: list[str]) -> dict[str, Any]:
    command = "python -m benchmarks.run" + (" " + shlex.join(argv) if argv else "")
    started = dt.datetime.now(dt.UTC)
    say("checking tools (nginx, wrk, node, npm packages)")
    tools.ensure_tools()
    facts = tools.machine_facts()
    facts["load_before"] = tools.load_average()
    if float(facts["load_before"].split()[0]) > 0.5:
        say(
            f"WARNING: the machine is busy (load average {facts['load_before']}); "
            "other processes compete with the contenders"
        )
    if (os.cpu_count() or 1) < 2:
        say("WARNING: fewer than 2 cores; contender and load share a core")
    scenarios: list[dict[str, Any]] = []
    with (
        tempfile.TemporaryDirectory(prefix="tailor-bench-") as tmp,
        Processes(Path(tmp)) as procs,
    ):
        work = Path(tmp)
        work.chmod(0o755)  # nginx workers run unprivileged and must reach the fixture files
        say("recording the mobile home fan-out from the real services (alice, u1)")
        fx = fixture.record(work / "fixture")
        for line in fx.describe():
            say(f"  recorded {line}")
        upstream = fixture.serve(fx, procs, LOAD_CPU)
        say(f"the upstream nginx serves it on {upstream} (core {LOAD_CPU}, 1 worker)")
        b = Bench(args, procs, fx)
        peaks: dict[str, float] = {}
        if "latency" in args.scenarios and "home" not in args.scenarios:
            peaks = committed_peaks()
            shown = ", ".join(f"{k} {v:,.0f}" for k, v in peaks.items()) or "none (no such row)"
            say(f"peak rps from {RESULTS.relative_to(ROOT)} (no home in this run): {shown}")
        for key in SCENARIOS:
            if key not in args.scenarios:
                continue
            say(f"== scenario {key}")
            if key == "latency":
                scenarios.append(scenario_latency(b, fx, work, peaks))
                continue
            table = STEPS[key](b, upstream, work)
            if key == "home":
                peaks = {c["key"]: c["rps"] for c in table["contenders"]}
            scenarios.append(table)
        facts["load_during"] = tools.load_average()
        say("stopping every process")

    finished = dt.datetime.now(dt.UTC)
    return {
        "command": command,
        "started": started.isoformat(timespec="seconds"),
        "duration_s": round((finished - started).total_seconds(), 1),
        "settings": {
            "rounds": args.rounds,
            "seconds": args.duration,
            "warmup_s": args.warmup,
            "connections": args.connections,
            "wrk_threads": 1,
            "contender_cpu": CONTENDER_CPU,
            "load_cpu": LOAD_CPU,
            "memory_seconds": args.memory_seconds,
        },
        "machine": facts,
        "upstream_calls": fx.describe(),
        "scenarios": scenarios,
    }


STEPS: dict[str, Callable[[Bench, str, Path], dict[str, Any]]] = {
    "home": scenario_home,
    "passthrough": scenario_passthrough,
    "cache": scenario_cache,
    "compression": scenario_compression,
    "workers2": scenario_workers2,
    "http2": scenario_http2,
    "overload": overload.scenario_overload,
    "soak": overload.scenario_soak,
    "grpc": grpc_home.scenario_grpc,
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)

    def on_term(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    try:
        result = run(args, argv)
    except KeyboardInterrupt:
        say("interrupted; every process started was stopped")
        return 130
    except tools.MissingTool:
        raise
    except Exception as exc:
        say(f"FAILED: {exc}")
        return 1
    # Only a run that renders the docs replaces the committed result the docs come from.
    out = RESULTS if not args.no_docs else Path(tempfile.gettempdir()) / "tailor-bench-result.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print()
    print(report.tables(result))
    print()
    if not args.no_docs:
        DOCS.write_text(report.render(result))
        PLOT.write_text(svg.render(result))
        say(f"wrote {RESULTS.relative_to(ROOT)}, {DOCS.relative_to(ROOT)}, "
            f"{PLOT.relative_to(ROOT)}")  # fmt: skip
    else:
        say(f"wrote {out} (--no-docs: benchmarks/results/latest.json left as it was)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
