"""What each upstream transport costs in the real home fan-out, in CPU microseconds per home.

    python -m benchmarks.transports                 # 5 interleaved rounds x 2000 homes each
    python -m benchmarks.transports --rounds 3 --requests 1000 --concurrency 32

The real mobile BFF (its full profile, edge cache off) runs in this process on uvloop, pinned to
core 0, against the fixture nginx on core 1 (the recorded home fan-out: six calls per home over
real loopback sockets). No server and no load generator: ``--concurrency`` tasks call
``BFF.handle`` back to back, so the figure is the pipeline plus the transport. The number that
matters is **process CPU time per home** (all threads: pyreqwest's Tokio thread counts), which
other work on the machine disturbs far less than wall time; wall-clock homes per second are
printed beside it. Transports run interleaved (A B A B ...), medians across rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import uvloop

from benchmarks import fixture
from benchmarks.procs import Processes
from benchmarks.ratelimit.pipeline_cost import NEVER_REFUSING
from tailor import BFF, Request, build_config
from tailor.config import deep_merge
from tailor.serve.collector import tune_collector
from waveform.bffs.mobile.app import PROFILE, build

TRANSPORTS = ("http1", "pyreqwest")
CONTENDER_CPU = 0
UPSTREAM_CPU = 1


def make(
    upstream: str | dict[str, str],
    transport: str,
    *,
    cache: bool = False,
    secret: str = "bench",
    config: dict[str, Any] | None = None,
) -> BFF:
    """The mobile BFF calling ``upstream`` for every service (the fixture), or each service
    at its own URL (a dict: real services, as benchmarks.grpc_home runs them); ``config`` is
    merged over the benchmark's own."""
    if isinstance(upstream, str):
        upstream = dict.fromkeys(PROFILE.get("upstreams", {}), upstream)
    over: dict[str, Any] = {
        "upstreams": upstream,
        "admin": {"enabled": False},
        "cache": {"enabled": cache, "backend": "memory"},
        "client": {"transport": transport},
        # Every request charges the IP, user and app quotas; none ever refuses.
        "rate_limit": {"policies": NEVER_REFUSING},
        "token_exchange": {
            "client_id": "bff-mobile", "client_secret": secret, "client_secret_env": None
        },
    }  # fmt: skip
    bff = build(build_config(deep_merge(deep_merge(PROFILE, over), config or {})))
    bff.startup(admin=False)
    tune_collector(bff.config.server)  # as a granian worker does after startup
    return bff


async def drive(
    bff: BFF,
    token: str,
    n: int,
    concurrency: int,
    *,
    expect_hit: bool = False,
    coding: str | None = None,
) -> tuple[float, float]:
    """(CPU us per home, homes per second) for ``n`` homes from ``concurrency`` callers;
    with ``expect_hit``, every answer must come from the edge cache; with ``coding``, the
    callers ask for it (Accept-Encoding) and every answer must be in it (identity: not
    compressed)."""
    headers = {"host": "bench", "authorization": f"Bearer {token}", "accept": "*/*"}
    if coding is not None:
        headers["accept-encoding"] = coding
    left = n

    async def caller() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            response = await bff.handle(Request("GET", "/v1/home", "", dict(headers), "127.0.0.1"))
            if response.status != 200:
                raise RuntimeError(f"/v1/home answered {response.status}: {response.body[:300]!r}")
            if expect_hit and response.header("x-cache") != "hit":
                raise RuntimeError(f"/v1/home was not a cache hit: {response.header('x-cache')}")
            # The coding is checked on the last answer only: a check on each would be counted
            # (benchmarks.instructions) as the compressed hit's own cost.
            if (
                coding is not None
                and left == 0
                and response.header("content-encoding")
                != (None if coding == "identity" else coding)
            ):
                raise RuntimeError(f"/v1/home was not in {coding}: {response.headers}")

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(concurrency)))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return cpu / n * 1e6, n / wall


async def measure(upstream: str, token: str, args: argparse.Namespace) -> dict[str, Any]:
    cpu: dict[str, list[float]] = {t: [] for t in args.transports}
    rps: dict[str, list[float]] = {t: [] for t in args.transports}
    bffs = {t: make(upstream, t) for t in args.transports}
    try:
        for bff in bffs.values():
            await drive(bff, token, 300, args.concurrency)  # warm: JWKS, tokens, pools
        for i in range(args.rounds):
            for name, bff in bffs.items():
                us, per_s = await drive(bff, token, args.requests, args.concurrency)
                cpu[name].append(us)
                rps[name].append(per_s)
                print(
                    f"round {i + 1}/{args.rounds} {name:<10} {us:7.1f} us CPU per home  "
                    f"{per_s:7.0f} homes/s",
                    flush=True,
                )
    finally:
        for bff in bffs.values():
            await bff.shutdown()
    return {
        name: {
            "cpu_us_per_home": round(statistics.median(cpu[name]), 1),
            "homes_per_s": round(statistics.median(rps[name])),
        }
        for name in args.transports
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.transports", description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--transports", type=lambda s: s.split(","), default=list(TRANSPORTS))
    args = parser.parse_args(argv)
    with (
        tempfile.TemporaryDirectory(prefix="tailor-transports-") as tmp,
        Processes(Path(tmp)) as procs,
    ):
        work = Path(tmp)
        work.chmod(0o755)  # nginx workers run unprivileged and must reach the fixture files
        print("recording the mobile home fan-out from the real services", flush=True)
        fx = fixture.record(work / "fixture")
        upstream = fixture.serve(fx, procs, UPSTREAM_CPU)
        os.sched_setaffinity(0, {CONTENDER_CPU})
        result = uvloop.run(measure(upstream, fx.token, args))
    print("\n| transport | CPU us per home (median) | homes/s (median) |\n|---|---:|---:|")
    for name, row in result.items():
        print(f"| {name} | {row['cpu_us_per_home']:.1f} | {row['homes_per_s']:,} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
