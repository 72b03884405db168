"""The mobile home benchmark: ``GET /v1/home`` on tailor and on the same endpoint written
without it (FastAPI + httpx, Node fastify + undici), same upstream bytes, one run.

    python -m benchmarks.run            # 3 interleaved rounds x 10 s (make bench)
    python -m benchmarks.run --quick    # 1 round x 3 s, a fast check

Layout on a 2-core machine: each contender has core 0 to itself (``taskset -c 0``, one
worker); nginx (the recorded upstream fixture) and wrk share core 1. Writes
``benchmarks/results/latest.json`` and renders ``docs/benchmarks.md``.
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks import fixture, report, tools, wrk
from benchmarks.procs import Processes
from waveform.supervisor import TOKEN_SECRET_ENV, free_ports

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "latest.json"
DOCS = ROOT / "docs" / "benchmarks.md"
CONTENDER_CPU = 0
LOAD_CPU = 1  # nginx and wrk
UPSTREAMS = (
    "accounts",
    "users",
    "tracks",
    "playlists",
    "social",
    "stream",
    "recommendations",
    "media",
    "rights",
    "catalog",
    "tokens",
)
BASELINE = "node"


@dataclass
class Contender:
    key: str
    label: str
    note: str
    port: int
    start: Callable[[Processes], None]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1/home"


_began = time.monotonic()


def say(text: str) -> None:
    print(f"[{time.monotonic() - _began:6.1f}s] {text}", flush=True)


def fetch_home(c: Contender, token: str, procs: Processes) -> Any:
    req = urllib.request.Request(c.url, headers={"authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        body = exc.read()[:500].decode(errors="replace")
        raise RuntimeError(
            f"{c.key} answered {exc.code} to GET /v1/home: {body}\n{procs.log_tail(c.key)}"
        ) from exc


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


def build_contenders(fx: fixture.Fixture, upstream: str, work: Path) -> list[Contender]:
    py = sys.executable
    tailor_port, tailor_admin, bare_port, fastapi_port, node_port = free_ports(5)
    config = work / "tailor-mobile.json"
    config.write_text(
        json.dumps(
            {
                "listen": {"host": "127.0.0.1", "port": tailor_port},
                "admin": {"host": "127.0.0.1", "port": tailor_admin},
                "upstreams": dict.fromkeys(UPSTREAMS, upstream),
                # This scenario measures aggregation: the edge cache would answer from memory
                # after the first request (the cache-hit scenario is measured on its own).
                "cache": {"enabled": False},
            },
            indent=2,
        )
    )
    peer_env = {"BENCH_UPSTREAM": upstream, "BENCH_USER_ID": fixture.USER_ID}

    def start_tailor(p: Processes) -> None:
        p.start(
            "tailor",
            [py, "-m", "waveform.bffs.mobile", "--config", str(config)],
            cpu=CONTENDER_CPU,
            env={TOKEN_SECRET_ENV: "bench"},  # the fixture answers any exchange
            cwd=ROOT,
        )
        p.wait_http("tailor", f"http://127.0.0.1:{tailor_admin}/healthz")

    def start_bare(p: Processes) -> None:
        p.start(
            "tailor-bare",
            [py, "-m", "granian", "--interface", "rsgi", "--factory", "--no-ws", "--loop", "uvloop",
             "--host", "127.0.0.1", "--port", str(bare_port),
             "benchmarks.peers.tailor_bare:create"],
            cpu=CONTENDER_CPU,
            env=peer_env,
            cwd=ROOT,
        )  # fmt: skip
        p.wait_http("tailor-bare", f"http://127.0.0.1:{bare_port}/nope")

    def start_fastapi(p: Processes) -> None:
        p.start(
            "fastapi",
            [py, "-m", "benchmarks.peers.fastapi_httpx", "--port", str(fastapi_port)],
            cpu=CONTENDER_CPU,
            env=peer_env,
            cwd=ROOT,
        )
        p.wait_http("fastapi", f"http://127.0.0.1:{fastapi_port}/openapi.json")

    def start_node(p: Processes) -> None:
        p.start(
            "node",
            ["node", "server.js", "--port", str(node_port)],
            cpu=CONTENDER_CPU,
            env={**peer_env, "NODE_ENV": "production"},
            cwd=tools.NODE_DIR,
        )
        p.wait_http("node", f"http://127.0.0.1:{node_port}/nope")

    return [
        Contender(
            "tailor",
            "tailor, full pipeline (mobile BFF)",
            "granian RSGI + pyreqwest; RS256 JWT, entitlements, rate limit, shedding, "
            "internal-token exchange (cached), resilience, metrics; edge cache off",
            tailor_port,
            start_tailor,
        ),
        Contender(
            "tailor-bare",
            "tailor, handler only",
            "the same home plan and shaping with no edge stage; caller from the environment",
            bare_port,
            start_bare,
        ),
        Contender(
            "fastapi",
            "FastAPI + httpx",
            "shared httpx.AsyncClient with defaults, pydantic models, uvicorn; no JWT check",
            fastapi_port,
            start_fastapi,
        ),
        Contender(
            "node",
            "Node fastify + undici",
            "undici Pool (keep-alive, 256 connections); no JWT check",
            node_port,
            start_node,
        ),
    ]


def summarize(rounds: dict[str, list[wrk.WrkResult]]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for key, results in rounds.items():
        out[key] = {
            "rps": statistics.median(r.rps for r in results),
            "p50_ms": statistics.median(r.p50_ms for r in results),
            "p99_ms": statistics.median(r.p99_ms for r in results),
            "cpu_pct": statistics.median(r.contender_cpu_pct for r in results),
            "errors": sum(r.non_2xx + r.socket_errors + r.timeouts for r in results),
        }
    base = out.get(BASELINE, {}).get("rps") or 0.0
    for summary in out.values():
        summary["x_node"] = summary["rps"] / base if base else 0.0
    return out


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="1 round x 3 s, 1 s warm-up")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default 3)")
    parser.add_argument("--duration", type=float, help="seconds per wrk run (default 10)")
    parser.add_argument("--warmup", type=float, help="warm-up seconds per contender (default 5)")
    parser.add_argument("--connections", type=int, default=64, help="wrk -c (default 64)")
    parser.add_argument("--no-docs", action="store_true", help="do not rewrite docs/benchmarks.md")
    args = parser.parse_args(argv)
    args.rounds = args.rounds or (1 if args.quick else 3)
    args.duration = args.duration or (3.0 if args.quick else 10.0)
    args.warmup = args.warmup if args.warmup is not None else (1.0 if args.quick else 5.0)
    return args


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
        (nginx_port,) = free_ports(1)
        conf = fixture.write_nginx_conf(fx, nginx_port)
        upstream = f"http://127.0.0.1:{nginx_port}"
        say(f"starting nginx on {upstream} (core {LOAD_CPU}, 1 worker)")
        procs.start(
            "nginx",
            ["nginx", "-p", str(fx.root), "-c", str(conf), "-e", str(fx.root / "nginx-error.log")],
            cpu=LOAD_CPU,
        )
        procs.wait_http("nginx", upstream + fixture.JWKS_PATH, require_ok=True)

        contenders = build_contenders(fx, upstream, work)
        for c in contenders:
            say(f"starting {c.key} on 127.0.0.1:{c.port} (core {CONTENDER_CPU})")
            c.start(procs)

        say("checking that every contender answers the same JSON")
        bodies = {c.key: fetch_home(c, fx.token, procs) for c in contenders}
        reference = bodies["tailor"]
        if "degraded" in reference:
            raise RuntimeError(f"tailor answered a degraded home: {reference['degraded']}")
        for key, body in bodies.items():
            found = _diff(reference, body)
            if found:
                raise RuntimeError(f"{key} answers different JSON than tailor: {found}")
        home_bytes = len(json.dumps(reference, separators=(",", ":")))
        say(f"  identical ({home_bytes} B of JSON, {len(reference['stream']['items'])} cards)")

        load = {"seconds": args.duration, "connections": args.connections, "cpu": LOAD_CPU}
        for c in contenders:
            say(f"warm-up {c.key}: {args.warmup:g} s")
            wrk.run(c.url, token=fx.token, **{**load, "seconds": args.warmup})

        rounds: dict[str, list[wrk.WrkResult]] = {c.key: [] for c in contenders}
        for n in range(1, args.rounds + 1):
            for c in contenders:
                pgid = procs.started[c.key].pid
                result = wrk.run(c.url, token=fx.token, pgid=pgid, **load)
                rounds[c.key].append(result)
                errors = result.non_2xx + result.socket_errors + result.timeouts
                say(
                    f"round {n}/{args.rounds} {c.key:<8} {result.rps:>9,.0f} rps  "
                    f"p50 {result.p50_ms:7.2f} ms  p99 {result.p99_ms:8.2f} ms  "
                    + f"own cpu {result.contender_cpu_pct:.0f}%  busy "
                    + " ".join(f"{k} {v:.0f}%" for k, v in result.cpu_busy_pct.items())
                    + (f"  errors {errors}" if errors else "")
                )
        facts["load_during"] = tools.load_average()
        say("stopping every process")

    summary = summarize(rounds)
    finished = dt.datetime.now(dt.UTC)
    return {
        "scenario": "GET /v1/home (mobile home, alice/u1)",
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
        },
        "machine": facts,
        "upstream_calls": fx.describe(),
        "home_bytes": home_bytes,
        "contenders": [
            {
                "key": c.key,
                "label": c.label,
                "note": c.note,
                **summary[c.key],
                "rounds": [r.as_dict() for r in rounds[c.key]],
            }
            for c in contenders
        ],
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
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print()
    print(report.table(result))
    print()
    if not args.no_docs:
        DOCS.write_text(report.render(result))
        say(f"wrote {RESULTS.relative_to(ROOT)} and {DOCS.relative_to(ROOT)}")
    else:
        say(f"wrote {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
