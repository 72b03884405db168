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

With ``--client TEXT`` every request says it is that app build (``x-client-version``), so the
ClientsStage row is what identification, counting, the deprecation headers and the workaround
rules cost for it: ``"waveform/3.4.0 (Android 14)"`` has the rules evaluated and none applied,
``"waveform/3.2.0 (Android 14)"`` gets the Android workaround (its transform included).

With ``--cache`` the profile's edge cache is on (memory backend): the warm-up fills it, every
measured request is a hit (checked), so the rows are what a cache hit costs stage by stage and
the handler row is about zero. Written to ``results/stages-cache.json``.

A regression shows up here as one row growing; ``docs/benchmarks.md`` carries the table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from benchmarks import fixture
from benchmarks.ratelimit.edge_cpu import transport_for
from benchmarks.ratelimit.pipeline_cost import NEVER_REFUSING
from tailor import BFF, Request, Response, build_config
from tailor.chain import Chain, Outcome
from tailor.config import deep_merge
from tailor.pipeline import BuildContext, Placement
from tailor.stages.clients import ClientsStage
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


async def run_requests(
    bff: BFF, token: str, n: int, *, expect_hit: bool = False, client: str | None = None
) -> float:
    headers = {"host": "bench", "authorization": f"Bearer {token}", "accept": "*/*"}
    if client is not None:
        headers["x-client-version"] = client
    started = time.perf_counter_ns()
    for _ in range(n):
        response = await bff.handle(Request("GET", "/v1/home", "", dict(headers), "127.0.0.1"))
        if response.status != 200:
            raise RuntimeError(f"/v1/home answered {response.status}: {response.body[:300]!r}")
        if expect_hit and response.header("x-cache") != "hit":
            raise RuntimeError(f"/v1/home was not a cache hit: {response.header('x-cache')}")
    return (time.perf_counter_ns() - started) / n / 1000


async def measure(
    fx: fixture.Fixture, rounds: int, n: int, *, cache: bool = False, client: str | None = None
) -> dict[str, Any]:
    clock = StageClock()
    restore = clock.install()
    try:
        bff = make(fx, cache=cache)
    finally:
        restore()
    try:
        # warm: JWKS, registry, token caches, the cache
        await run_requests(bff, fx.token, 300, client=client)
        totals: list[float] = []
        own: dict[str, list[float]] = {name: [] for name in clock.names}
        for i in range(rounds):
            clock.reset()
            totals.append(await run_requests(bff, fx.token, n, expect_hit=cache, client=client))
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
        "client": client,
    }


def _clients_link(client: str, path: str) -> Callable[[], Outcome]:
    """The mobile BFF's clients stage alone, over a next stage that answers at once, with one
    request of ``client`` on ``path`` that it has identified once already."""
    over = {"token_exchange": {"client_secret": "bench", "client_secret_env": None}}
    bff = build(build_config(deep_merge(PROFILE, over)))
    ctx = BuildContext(bff.config, bff.router, None, bff.metrics)  # type: ignore[arg-type]
    ctx.transforms = bff._transforms
    stage = ClientsStage.build(ctx)
    assert stage is not None
    ready = Response(200)
    link = stage.wrap(lambda request: ready)
    request = Request("GET", path, "", {"x-client-version": client}, "127.0.0.1")
    request.route = bff.router.match("GET", path).route
    link(request)  # identified once, as every later request of this build will find it
    return partial(link, request)


def clients_stage_us(client: str, path: str = "/v2/home", n: int = 100_000) -> float:
    """The clients stage alone in us per request, for a client seen before on a route that is
    not deprecated: identification, counting and the workaround-rule lookup. This process's
    CPU time, the best of five runs (other work on a shared machine only adds to a run)."""
    runs = timeit.repeat(_clients_link(client, path), time.process_time, number=n, repeat=5)
    return min(runs) / n * 1e6


def clients_stage_instructions(client: str, path: str = "/v2/home", n: int = 20_000) -> float:
    """The same, in instructions per request, counted by valgrind (two runs ``n`` calls
    apart, so start-up cancels out): what a loaded machine cannot move."""

    def collected(calls: int) -> int:
        argv = [
            "valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable,
            "-m", "benchmarks.stages", "--clients-child", client, "--path", path,
            "--requests", str(calls),
        ]  # fmt: skip
        env = {**os.environ, "PYTHONHASHSEED": "0"}
        done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=1800)
        found = re.search(r"Collected : (\d+)", done.stderr)
        if done.returncode != 0 or found is None:
            raise RuntimeError(f"the counted run failed:\n{done.stderr}")
        return int(found.group(1))

    return (collected(1_000 + n) - collected(1_000)) / n


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
    parser.add_argument("--client", help="x-client-version of every request (an app build)")
    parser.add_argument(
        "--clients-only",
        action="store_true",
        help="only the clients stage alone: CPU time and (valgrind) instructions per request",
    )
    parser.add_argument("--clients-child", help=argparse.SUPPRESS)
    parser.add_argument("--path", default="/v2/home", help=argparse.SUPPRESS)
    parser.add_argument("--no-write", action="store_true", help="leave results/ untouched")
    args = parser.parse_args(argv)
    if args.clients_child is not None:  # counted by valgrind: the calls and nothing else
        call = _clients_link(args.clients_child, args.path)
        for _ in range(args.requests):
            call()
        return 0
    if args.clients_only:
        clients_report(args.client)
        return 0
    if args.client is not None:
        args.no_write = True  # the results/ tables are for requests without a client header
    with tempfile.TemporaryDirectory(prefix="tailor-stages-") as tmp:
        print("recording the mobile home fan-out from the real services", flush=True)
        fx = fixture.record(Path(tmp) / "fixture")
        result = asyncio.run(
            measure(fx, args.rounds, args.requests, cache=args.cache, client=args.client)
        )
    if not args.no_write:
        out = CACHE_RESULTS if args.cache else RESULTS
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2) + "\n")
    print(table(result))
    clients_report(args.client)
    return 0


def clients_report(client: str | None) -> None:
    """The clients stage alone, for a build with no rule and one whose rule is evaluated (it
    names another route, so no transform runs): the workaround-rule lookup's cost."""
    for text in (client or "waveform/3.4.0 (Android 14)", "waveform/3.2.0 (Android 14)"):
        line = f"clients stage alone, {text!r} on /v2/home: {clients_stage_us(text):.2f} us"
        if shutil.which("valgrind") is not None:
            line += f", {clients_stage_instructions(text):,.0f} instructions"
        print(line + " per request", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
