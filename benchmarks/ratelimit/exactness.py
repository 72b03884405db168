"""Exactness of the Redis rate limiter across OS processes.

    python -m benchmarks.ratelimit.exactness                 # 2 and 8 processes, limit 1000
    python -m benchmarks.ratelimit.exactness --procs 2 8 --attempts 1500 --concurrency 16

A fresh redis-server is started on loopback. For each process count, that many processes
(multiprocessing, ``spawn``) each open their own redis.asyncio client, wait on one start
signal, then hammer the *same* key with ``--attempts`` acquisitions each (``--concurrency``
in flight per process), bounded by ``--timeout`` seconds. The quota is ``--limit`` per
``--window`` seconds (one day by default, so no request is refilled during the run: the
right answer is exactly the limit). The allowed total is reported with its % over the limit.

``--naive`` adds the same run against a read-then-write counter (GET, compare, SET: what a
limiter without an atomic script does), to show what atomicity buys.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tailor.ratelimit import Quota, RedisRateLimiter
from waveform.redis_server import RedisServer

RESULTS = Path(__file__).resolve().parent / "results" / "exactness.json"


async def _hammer(url: str, key: str, mode: str, args: dict[str, Any], start: Any) -> int:
    from redis.asyncio import Redis

    client = Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
    backend = RedisRateLimiter(client, timeout_s=5.0, retry_s=0.0)
    quota = Quota(key, args["limit"], args["window"])
    await client.ping()  # connected before the start signal: measure the limiter, not connects
    remaining = [args["attempts"]]
    allowed = 0
    deadline = 0.0

    async def naive_acquire() -> bool:
        count = int(await client.get(key) or 0)
        if count >= args["limit"]:
            return False
        await client.set(key, count + 1)
        return True

    async def worker() -> None:
        nonlocal allowed
        while remaining[0] > 0 and time.monotonic() < deadline:
            remaining[0] -= 1
            if mode == "naive":
                ok = await naive_acquire()
            else:
                ok = (await backend.acquire([quota])).allowed
            allowed += ok

    await asyncio.get_running_loop().run_in_executor(None, start.wait)
    deadline = time.monotonic() + args["timeout"]
    await asyncio.gather(*(worker() for _ in range(args["concurrency"])))
    await client.aclose()
    return allowed


def _child(url: str, key: str, mode: str, args: dict[str, Any], start: Any, out: Any) -> None:
    out.put(asyncio.run(_hammer(url, key, mode, args, start)))


def run_once(url: str, procs: int, mode: str, args: dict[str, Any]) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    start, out = ctx.Event(), ctx.Queue()
    key = f"bench:exact:{mode}:{procs}:{os.urandom(6).hex()}"
    children = [
        ctx.Process(target=_child, args=(url, key, mode, args, start, out)) for _ in range(procs)
    ]
    for child in children:
        child.start()
    time.sleep(1.0)  # let every child import and connect; they all wait on ``start``
    began = time.monotonic()
    start.set()
    counts = [out.get(timeout=args["timeout"] + 30) for _ in children]
    elapsed = time.monotonic() - began
    for child in children:
        child.join(timeout=10)
    refills = int(elapsed // (args["window"] / args["limit"])) if mode == "gcra" else 0
    expected = args["limit"] + refills
    allowed = sum(counts)
    return {
        "mode": mode,
        "processes": procs,
        "attempts": procs * args["attempts"],
        "allowed": allowed,
        "expected": expected,
        "over_pct": round(100.0 * (allowed - expected) / expected, 3),
        "per_process": counts,
        "elapsed_s": round(elapsed, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ratelimit.exactness")
    parser.add_argument("--procs", type=int, nargs="+", default=[2, 8])
    parser.add_argument("--limit", type=int, default=1000)
    parser.add_argument("--window", type=float, default=86_400.0)
    parser.add_argument("--attempts", type=int, default=1500, help="per process (> limit)")
    parser.add_argument("--concurrency", type=int, default=16, help="in flight per process")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per run, at most")
    parser.add_argument("--naive", action="store_true", help="also run a GET/SET counter")
    ns = parser.parse_args(argv)
    args = vars(ns)
    rows: list[dict[str, Any]] = []
    with (
        tempfile.TemporaryDirectory(prefix="tailor-rl-") as tmp,
        RedisServer(data_dir=tmp) as redis,
    ):
        for procs in ns.procs:
            for mode in ("gcra", "naive") if ns.naive else ("gcra",):
                row = run_once(redis.url, procs, mode, args)
                rows.append(row)
                print(
                    f"{mode:<6} {procs} processes: {row['attempts']} attempts, "
                    f"{row['allowed']} allowed (expected {row['expected']}, "
                    f"{row['over_pct']:+.3f}% over) in {row['elapsed_s']} s "
                    f"per process {row['per_process']}",
                    flush=True,
                )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    command = "python -m benchmarks.ratelimit.exactness" + (
        " " + " ".join(sys.argv[1:] if argv is None else argv) if (argv or sys.argv[1:]) else ""
    )
    RESULTS.write_text(json.dumps({"command": command, "settings": args, "runs": rows}, indent=2))
    return 0 if all(r["allowed"] == r["expected"] for r in rows if r["mode"] == "gcra") else 1


if __name__ == "__main__":
    sys.exit(main())
