"""CPU per request of the full edge pipeline against the bare handler, in one process.

    python -m benchmarks.ratelimit.edge_cpu                  # 7 interleaved rounds x 3000

The wrk figure (``pipeline_cost``) needs a quiet machine; this one does not. Both BFFs run in
this process over a transport that answers from the recorded home fan-out (no sockets), and
the CPU time of this process (``time.process_time``) is taken per round of sequential
``GET /v1/home`` requests, rounds interleaved. What remains is what the stages cost: JWT
verification (cached after the first request, as in production), metrics, the rate limiter
charging three quotas (IP, user, app), sanitize, plus the handler itself in both. The server
(granian) is not in either figure, so the relative cost here is an upper bound of the share
of rps the pipeline costs behind a real server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from benchmarks import fixture
from benchmarks.ratelimit.pipeline_cost import NEVER_REFUSING
from tailor import BFF, Request, Response, build_config
from tailor.auth.principal import Principal
from tailor.config import deep_merge
from tailor.upstream.mock import MockTransport
from tailor.upstream.transport import UpstreamRequest, UpstreamResponse
from waveform.bffs.mobile.app import PROFILE, build

RESULTS = Path(__file__).resolve().parent / "results" / "edge_cpu.json"
JSON_HEADERS = {"content-type": "application/json"}


def transport_for(fx: fixture.Fixture) -> MockTransport:
    bodies = {path: file.read_bytes() for path, file in fx.files.items()}

    async def answer(request: UpstreamRequest) -> UpstreamResponse:
        body = bodies.get(urlsplit(request.url).path)
        if body is None:
            return UpstreamResponse(404, JSON_HEADERS, b"{}")
        return UpstreamResponse(200, JSON_HEADERS, body)

    return MockTransport(answer)


def make(fx: fixture.Fixture, full: bool) -> BFF:
    upstreams = dict.fromkeys(PROFILE.get("upstreams", {}), "http://127.0.0.1:1")
    over: dict[str, Any] = {"upstreams": upstreams, "admin": {"enabled": False}}
    if "token_exchange" in PROFILE:
        over["token_exchange"] = None
    if "entitlements" in PROFILE:
        over["entitlements"] = {"enabled": False}
    if full:
        over["rate_limit"] = {"policies": NEVER_REFUSING}
    else:
        over |= {"auth": {"jwt": None, "anonymous": True}, "metrics": {"enabled": False}}
        over["rate_limit"] = {"enabled": False}
    bff = build(build_config(deep_merge(PROFILE, over)))
    bff._transport = transport_for(fx)
    if not full:
        caller = Principal(fixture.USER_ID)
        run_pipeline = bff.handle

        async def handle(request: Request) -> Response:
            request.principal = caller
            return await run_pipeline(request)

        bff.handle = handle  # type: ignore[method-assign]
    bff.startup(admin=False)
    return bff


async def one_round(bff: BFF, token: str, n: int) -> float:
    headers = {"host": "bench", "authorization": f"Bearer {token}", "accept": "*/*"}
    started = time.process_time()
    for _ in range(n):
        response = await bff.handle(Request("GET", "/v1/home", "", dict(headers), "127.0.0.1"))
        if response.status != 200:
            raise RuntimeError(f"/v1/home answered {response.status}: {response.body[:300]!r}")
    return (time.process_time() - started) / n * 1e6


async def measure(fx: fixture.Fixture, rounds: int, n: int) -> dict[str, Any]:
    bffs = {"full": make(fx, True), "bare": make(fx, False)}
    try:
        for bff in bffs.values():
            await one_round(bff, fx.token, 200)  # warm: JWKS fetched, token cached, pools
        us: dict[str, list[float]] = {"full": [], "bare": []}
        for i in range(rounds):
            for key, bff in bffs.items():
                us[key].append(await one_round(bff, fx.token, n))
            print(f"round {i + 1}/{rounds}: full {us['full'][-1]:.0f} us, "
                  f"bare {us['bare'][-1]:.0f} us per request", flush=True)  # fmt: skip
        stages = {key: bff.stages for key, bff in bffs.items()}
    finally:
        for bff in bffs.values():
            await bff.shutdown()
    full, bare = statistics.median(us["full"]), statistics.median(us["bare"])
    return {
        "full_us": round(full, 1),
        "bare_us": round(bare, 1),
        "edge_us": round(full - bare, 1),
        "fewer_rps_pct": round(100 * (1 - bare / full), 1),
        "rounds_us": us,
        "stages": stages,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ratelimit.edge_cpu")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--requests", type=int, default=3000, help="per round")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="tailor-rl-cpu-") as tmp:
        fx = fixture.record(Path(tmp) / "fixture")
        result = asyncio.run(measure(fx, args.rounds, args.requests))
    result["command"] = "python -m benchmarks.ratelimit.edge_cpu " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"full {result['full_us']} us vs bare {result['bare_us']} us per request: the edge "
        f"costs {result['edge_us']} us, {result['fewer_rps_pct']}% fewer rps if CPU-bound"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
