"""What each content coding costs and saves on the mobile home (issue 14), in one run.

    python -m benchmarks.compression                  # 3 interleaved rounds
    python -m benchmarks.compression --rounds 1 --homes 100 --hits 500   # a quick look

The real mobile BFF (its full profile: compression on, three quotas charged per request) runs
in a child process pinned to one core, against the fixture nginx (the recorded home fan-out),
and is called in-process (``BFF.handle``, one caller at a time): no server, no load generator,
so the figure is the pipeline's. Per coding (identity, gzip, br, zstd), interleaved round by
round: the home's bytes as sent, **process CPU time per home** with the edge cache off (the
home compressed as it goes out, at ``compression.levels``), and CPU time per cache hit (the
variant stored at fill, at ``compression.cache_levels``). CPU time, not wall time: other work
on a shared machine moves it far less. The ratios to identity in the same run are the figures
that travel; ``python -m benchmarks.instructions --scenarios cache,cache-zstd`` counts the same
hit in instructions, which nothing else on the machine moves.

``make bench`` runs it as its ``compression`` scenario.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from benchmarks.run import Bench

CODINGS = ("identity", "gzip", "br", "zstd")
LONG_TTL = {"cache": {"routes": {"/v1/home": {"ttl_s": 3600}}}}
#: The issue's budget: a compressed hit costs at most this much more CPU than an identity hit.
HIT_BUDGET = 1.03

SECTION = """\
## Compression: the home's bytes and CPU per coding

The real mobile BFF (full profile, compression on) called in-process on core {cpu}, one request
at a time, against the same upstream bytes: the home with the edge cache off (compressed as it
goes out) and the home as a cache hit (the variant stored when the entry was filled), asked
with `Accept-Encoding: <coding>` (identity too, so every request carries the same headers).
Process CPU time per request, medians of the rounds, interleaved coding by coding
(`python -m benchmarks.compression`); x identity is the ratio to identity in the same run.

{table}
"""


def table(s: dict[str, Any]) -> str:
    rows = [
        "| coding | home bytes | of identity | CPU us per home | x identity | "
        "CPU us per cache hit | x identity hit |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for c in s["contenders"]:
        rows.append(
            f"| {c['label']} | {c['bytes']:,} | {c['bytes_ratio']:.0%} | {c['home_us']:.1f} | "
            f"{c['home_ratio']:.3f} | {c['hit_us']:.1f} | {c['hit_ratio']:.3f} |"
        )
    return "\n".join(rows)


def target_rows(s: dict[str, Any]) -> list[str]:
    """The issue's budget against this run: the worst compressed hit over the identity hit."""
    worst = max((c for c in s["contenders"] if c["key"] != "identity"),
                key=lambda c: c["hit_ratio"], default=None)  # fmt: skip
    if worst is None:
        return []
    ok = worst["hit_ratio"] <= HIT_BUDGET
    return [
        f"| compressed cache hit ({worst['label']}, the dearest) CPU <= {HIT_BUDGET:g}x the "
        f"identity hit | {worst['hit_ratio']:.3f}x | {'yes' if ok else 'no'} |"
    ]


def scenario(b: Bench, upstream: str, work: Path) -> dict[str, Any]:
    """``make bench``'s compression scenario: the child on the contender's core."""
    a = b.args
    homes, hits = (100, 500) if a.quick else (1000, 5000)
    cpu = str(b.contender_cpu)
    b.say(f"compression: {a.rounds} rounds of {homes} homes and {hits} hits per coding "
          f"(core {cpu})")  # fmt: skip
    result = run_child(upstream, b.token, cpu, a.rounds, homes, hits)
    out = {
        "key": "compression",
        "kind": "compression",
        "title": "Compression per coding",
        "cpu": cpu,
        "path": "/v1/home",
        "contenders": result,
    }
    for c in result:
        home = f"home {c['home_us']:7.1f} us (x{c['home_ratio']:.3f})"
        hit = f"hit {c['hit_us']:6.1f} us (x{c['hit_ratio']:.3f})"
        b.say(f"compression: {c['label']:<8} {c['bytes']:>6,} bytes  {home}  {hit}")
    return out


def run_child(
    upstream: str, token: str, cpu: str, rounds: int, homes: int, hits: int
) -> list[dict[str, Any]]:
    argv = [
        "taskset", "-c", cpu, sys.executable, "-m", "benchmarks.compression", "--child",
        "--upstream", upstream, "--rounds", str(rounds), "--homes", str(homes),
        "--hits", str(hits),
    ]  # fmt: skip
    env = {**os.environ, "BENCH_TOKEN": token}
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=3600)
    if done.returncode != 0:
        raise RuntimeError(f"compression child failed:\n{done.stderr[-3000:]}")
    rows: list[dict[str, Any]] = json.loads(done.stdout.strip().splitlines()[-1])
    return rows


async def measure(upstream: str, token: str, rounds: int, homes: int, hits: int) -> list[Any]:
    """In the child: the BFFs in this process, one caller, interleaved codings."""
    from benchmarks.transports import drive, make
    from tailor import Request

    home_bff = make(upstream, "http1")
    # An hour's TTL: every measured request is a hit however slow the machine is today.
    hit_bff = make(upstream, "http1", cache=True, config=LONG_TTL)
    home_us: dict[str, list[float]] = {c: [] for c in CODINGS}
    hit_us: dict[str, list[float]] = {c: [] for c in CODINGS}
    sizes: dict[str, int] = {}
    try:
        for coding in CODINGS:
            # Identity is asked for too, so every request carries the same headers.
            await drive(home_bff, token, 50, 1, coding=coding)  # warm: JWKS, tokens, pools
            await drive(hit_bff, token, 50, 1, coding=coding)  # fills the entry
            headers = {"host": "bench", "authorization": f"Bearer {token}"}
            headers["accept-encoding"] = coding
            answer = await hit_bff.handle(Request("GET", "/v1/home", "", headers, "127.0.0.1"))
            sizes[coding] = len(answer.body)
        for _ in range(rounds):
            for coding in CODINGS:
                home_us[coding].append((await drive(home_bff, token, homes, 1, coding=coding))[0])
                hit = await drive(hit_bff, token, hits, 1, expect_hit=True, coding=coding)
                hit_us[coding].append(hit[0])
    finally:
        await home_bff.shutdown()
        await hit_bff.shutdown()
    base_home = statistics.median(home_us["identity"])
    base_hit = statistics.median(hit_us["identity"])
    rows = []
    for coding in CODINGS:
        home, hit = statistics.median(home_us[coding]), statistics.median(hit_us[coding])
        rows.append({
            "key": coding, "label": coding, "note": "", "bytes": sizes[coding],
            "bytes_ratio": sizes[coding] / sizes["identity"],
            "home_us": round(home, 1), "home_ratio": home / base_home,
            "hit_us": round(hit, 2), "hit_ratio": hit / base_hit,
            "home_rounds": home_us[coding], "hit_rounds": hit_us[coding],
        })  # fmt: skip
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.compression", description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--homes", type=int, default=1000)
    parser.add_argument("--hits", type=int, default=5000)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--upstream", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        import uvloop

        rows = uvloop.run(
            measure(args.upstream, os.environ["BENCH_TOKEN"], args.rounds, args.homes, args.hits)
        )
        print(json.dumps(rows))
        return 0
    from benchmarks import fixture
    from benchmarks.procs import Processes

    with (
        tempfile.TemporaryDirectory(prefix="tailor-compression-") as tmp,
        Processes(Path(tmp)) as procs,
    ):
        work = Path(tmp)
        work.chmod(0o755)  # nginx workers run unprivileged and must reach the fixture files
        print("recording the mobile home fan-out from the real services", flush=True)
        fx = fixture.record(work / "fixture")
        upstream = fixture.serve(fx, procs, 1)
        started = time.monotonic()
        rows = run_child(upstream, fx.token, "0", args.rounds, args.homes, args.hits)
    s = {"contenders": rows}
    print(f"\n{table(s)}\n\n" + "\n".join(target_rows(s)) +
          f"\n\n({time.monotonic() - started:.0f} s; CPU time on a shared machine is noisy: "
          "compare the ratios)")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
