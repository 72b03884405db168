"""What each pipeline stage costs, in microseconds per request, stage by stage.

    python -m benchmarks.stages            # 5 rounds x 2000 sequential GET /v1/home
    python -m benchmarks.stages --cache    # the same, answered from the edge cache

The real mobile BFF (its full profile, edge cache off) runs in this process over a transport
that answers from the recorded home fan-out without sockets, so the figures are the pipeline's
own CPU: no server, no network. A timer sits between every two stages; a stage's own cost is
its time minus the time of everything below it. The handler row is the endpoint itself
(aggregation, decoding, shaping, encoding) and includes the layers tailor adds to each inward
call (internal-token headers, resilience, last-known-good). Requests are sequential, so wall
time is CPU time.

With ``--cache`` the profile's edge cache is on (memory backend): the warm-up fills it, every
measured request is a hit (checked), so the rows are what a cache hit costs stage by stage and
the handler row is about zero. Written to ``results/stages-cache.json``.

A regression shows up here as one row growing; ``docs/benchmarks.md`` carries the table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from benchmarks import fixture
from benchmarks.ratelimit.edge_cpu import transport_for
from benchmarks.ratelimit.pipeline_cost import NEVER_REFUSING
from tailor import BFF, Request, Response, build_config
from tailor.chain import Chain, Outcome
from tailor.config import deep_merge
from tailor.pipeline import BuildContext, Placement
from waveform.bffs.mobile.app import PROFILE, build

RESULTS = Path(__file__).resolve().parent / "results" / "stages.json"
CACHE_RESULTS = RESULTS.with_name("stages-cache.json")


class StageClock:
    """Wraps every stage so its inclusive time is summed; own = inclusive - next inclusive."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.inclusive: list[int] = []

    def install(self) -> Callable[[], None]:
        import tailor.pipeline as pipeline

        original = pipeline.build_chain

        def timed_build_chain(
            ctx: BuildContext, added: Sequence[Placement] = ()
        ) -> tuple[Chain, list[str]]:
            order = pipeline.stage_order(added)
            stages = [s for s in (f.build(ctx) for f in order) if s is not None]
            self.names = [type(s).__name__ for s in stages]
            self.inclusive = [0] * len(stages)

            async def bottom(request: Any) -> Any:
                raise RuntimeError("the handler stage must be last")

            chain: Chain = bottom
            for index in range(len(stages) - 1, -1, -1):
                chain = self._timed(index, stages[index].wrap(chain))
            return chain, self.names

        pipeline.build_chain = timed_build_chain  # type: ignore[assignment]
        import tailor.app as app_module

        app_module.build_chain = timed_build_chain  # type: ignore[assignment]

        def restore() -> None:
            pipeline.build_chain = original
            app_module.build_chain = original

        return restore

    def _timed(self, index: int, handler: Chain) -> Chain:
        inclusive = self.inclusive
        clock = time.perf_counter_ns

        # As the stages are: a response had at once is timed at once, an awaitable when done.
        def timed(request: Request) -> Outcome:
            started = clock()
            try:
                outcome = handler(request)
            except BaseException:
                inclusive[index] += clock() - started
                raise
            if isinstance(outcome, Response):
                inclusive[index] += clock() - started
                return outcome
            return finish(outcome, started)

        async def finish(pending: Awaitable[Response], started: int) -> Response:
            try:
                return await pending
            finally:
                inclusive[index] += clock() - started

        return timed

    def own_us(self, requests: int) -> dict[str, float]:
        out: dict[str, float] = {}
        for i, name in enumerate(self.names):
            below = self.inclusive[i + 1] if i + 1 < len(self.names) else 0
            out[name] = (self.inclusive[i] - below) / requests / 1000
        return out

    def reset(self) -> None:
        self.inclusive[:] = [0] * len(self.inclusive)


def make(fx: fixture.Fixture, *, cache: bool = False) -> BFF:
    upstreams = dict.fromkeys(PROFILE.get("upstreams", {}), "http://127.0.0.1:1")
    over: dict[str, Any] = {
        "upstreams": upstreams,
        "admin": {"enabled": False},
        "cache": {"enabled": cache, "backend": "memory"},
        # Every request charges the IP, user and app quotas; none ever refuses.
        "rate_limit": {"policies": NEVER_REFUSING},
        "token_exchange": {
            "client_id": "bff-mobile", "client_secret": "bench", "client_secret_env": None
        },
    }  # fmt: skip
    bff = build(build_config(deep_merge(PROFILE, over)))
    bff._transport = transport_for(fx)
    bff.startup(admin=False)
    return bff


async def run_requests(bff: BFF, token: str, n: int, *, expect_hit: bool = False) -> float:
    headers = {"host": "bench", "authorization": f"Bearer {token}", "accept": "*/*"}
    started = time.perf_counter_ns()
    for _ in range(n):
        response = await bff.handle(Request("GET", "/v1/home", "", dict(headers), "127.0.0.1"))
        if response.status != 200:
            raise RuntimeError(f"/v1/home answered {response.status}: {response.body[:300]!r}")
        if expect_hit and response.header("x-cache") != "hit":
            raise RuntimeError(f"/v1/home was not a cache hit: {response.header('x-cache')}")
    return (time.perf_counter_ns() - started) / n / 1000


async def measure(
    fx: fixture.Fixture, rounds: int, n: int, *, cache: bool = False
) -> dict[str, Any]:
    clock = StageClock()
    restore = clock.install()
    try:
        bff = make(fx, cache=cache)
    finally:
        restore()
    try:
        await run_requests(bff, fx.token, 300)  # warm: JWKS, registry, token caches, the cache
        totals: list[float] = []
        own: dict[str, list[float]] = {name: [] for name in clock.names}
        for i in range(rounds):
            clock.reset()
            totals.append(await run_requests(bff, fx.token, n, expect_hit=cache))
            for name, value in clock.own_us(n).items():
                own[name].append(value)
            print(f"round {i + 1}/{rounds}: {totals[-1]:.1f} us per request", flush=True)
    finally:
        await bff.shutdown()
    return {
        "total_us": round(statistics.median(totals), 1),
        "stages_us": {k: round(statistics.median(v), 1) for k, v in own.items()},
        "requests_per_round": n,
        "rounds": rounds,
        "cache": cache,
    }


def table(result: dict[str, Any]) -> str:
    lines = ["| stage | us per request |", "|---|---:|"]
    lines += [f"| {k} | {v:.1f} |" for k, v in result["stages_us"].items()]
    lines.append(f"| **total (in-process, no server)** | **{result['total_us']:.1f}** |")
    return "\n".join(lines)


def tables(result: dict[str, Any], cached: dict[str, Any]) -> str:
    """Both runs side by side: the full pipeline (cache off) and a cache hit."""
    # The cache-hit run has every stage of the other, and the cache stage in its place.
    names = list(dict.fromkeys([*cached["stages_us"], *result["stages_us"]]))
    lines = ["| stage | us per request | us per cache hit |", "|---|---:|---:|"]
    for name in names:
        a, b = result["stages_us"].get(name), cached["stages_us"].get(name)
        lines.append(f"| {name} | {_cell(a)} | {_cell(b)} |")
    lines.append(
        f"| **total (in-process, no server)** | **{result['total_us']:.1f}** "
        f"| **{cached['total_us']:.1f}** |"
    )
    return "\n".join(lines)


def _cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.stages", description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument(
        "--cache", action="store_true", help="edge cache on (memory): measure the hit path"
    )
    parser.add_argument("--no-write", action="store_true", help="leave results/ untouched")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="tailor-stages-") as tmp:
        print("recording the mobile home fan-out from the real services", flush=True)
        fx = fixture.record(Path(tmp) / "fixture")
        result = asyncio.run(measure(fx, args.rounds, args.requests, cache=args.cache))
    if not args.no_write:
        out = CACHE_RESULTS if args.cache else RESULTS
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2) + "\n")
    print(table(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
