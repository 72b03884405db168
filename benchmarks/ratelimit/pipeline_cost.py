"""The cost of the full edge pipeline against the bare handler, on the mobile home.

    python -m benchmarks.ratelimit.pipeline_cost             # 3 interleaved rounds x 10 s
    python -m benchmarks.ratelimit.pipeline_cost --quick     # 1 round x 3 s

Reuses the foundation benchmark's parts (``benchmarks.fixture``: the recorded home fan-out
served static by nginx; ``benchmarks.wrk``; ``benchmarks.procs``) and the same layout: the
BFF alone on core 0 (one granian worker), nginx and wrk on core 1, wrk -c64.

- ``full``: the mobile BFF as profiled, everything on: the RS256 JWT verified (JWKS from the
  fixture), the entitlements stage when this tree has one (the app record served static by
  nginx), metrics, the rate limiter (in memory) charging three quotas per request (per IP,
  per user, per app; limits too high to refuse, so every request pays the check), sanitize.
- ``bare``: the same handlers with auth, entitlements, metrics and rate limit off
  (``benchmarks.ratelimit.bare_mobile`` sets the caller instead). Token exchange is off in
  both: it is a cached inward credential, not an edge stage.

Reports the median rps of each and how many fewer rps the full pipeline serves (target: at
most 20% fewer). Writes ``benchmarks/ratelimit/results/pipeline_cost.json``.
"""

from __future__ import annotations

import argparse
import base64
import json
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from benchmarks import fixture, wrk
from benchmarks.procs import Processes
from waveform.bffs.mobile.app import PROFILE
from waveform.bffs.quotas import READ_QUOTAS
from waveform.supervisor import free_ports

ROOT = Path(__file__).resolve().parents[2]
RESULTS = Path(__file__).resolve().parent / "results" / "pipeline_cost.json"
BFF_CPU, LOAD_CPU = 0, 1
NEVER = 1_000_000_000  # a limit no run reaches: the limiter is paid for, never refuses
#: The rate-limit policies a benchmarked BFF runs: a per-IP quota and the reference profiles'
#: read quotas (waveform.bffs.quotas, replaced by name, every tier too), each with a limit no
#: run reaches. Every benchmarked request (a read) pays the limiter for three quotas and none
#: is ever refused.
NEVER_REFUSING: dict[str, dict[str, Any]] = {
    "ip": {"key": "ip", "limit": NEVER},
    **{
        name: {**quota, "limit": NEVER, "tiers": dict.fromkeys(quota.get("tiers", {}), NEVER)}
        for name, quota in READ_QUOTAS.items()
    },
}


def say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


def claims_of(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def serve_app_record(fx: fixture.Fixture) -> bool:
    """Add the caller's app to the static upstream, if this tree has an entitlements stage."""
    try:
        import msgspec

        from tailor.auth.apps import App
    except ImportError:
        return False
    client_id = str(claims_of(fx.token).get("client_id") or "")
    if not client_id or "entitlements" not in PROFILE:
        return False
    app = App(client_id, name="bench", status="active", bffs=["mobile"],
              routes={"mobile": ["*"]}, tier="default")  # fmt: skip
    path = fx.root / "bodies" / "app.json"
    path.write_bytes(msgspec.json.encode(app))
    fx.files[f"/apps/{client_id}"] = path
    return True


def configs(upstream: str, ports: list[int], entitlements: bool) -> dict[str, dict[str, Any]]:
    names = dict.fromkeys(PROFILE.get("upstreams", {}), upstream)
    common: dict[str, Any] = {"upstreams": names}
    if "token_exchange" in PROFILE:
        common["token_exchange"] = None
    full: dict[str, Any] = {
        **common,
        "listen": {"port": ports[0]},
        "admin": {"port": ports[1]},
        "metrics": {"enabled": True},
        "rate_limit": {
            "enabled": True,
            "policies": NEVER_REFUSING,
        },
    }
    bare: dict[str, Any] = {
        **common,
        "listen": {"port": ports[2]},
        "admin": {"port": ports[3]},
        "auth": {"jwt": None, "anonymous": True},
        "metrics": {"enabled": False},
        "rate_limit": {"enabled": False},
    }
    if "entitlements" in PROFILE:
        full["entitlements"] = {"enabled": entitlements}
        bare["entitlements"] = {"enabled": False}
    return {"full": full, "bare": bare}


def fetch(url: str, token: str) -> tuple[dict[str, Any], dict[str, str]]:
    req = urllib.request.Request(url, headers={"authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read()), {k.lower(): v for k, v in resp.headers.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ratelimit.pipeline_cost")
    parser.add_argument("--quick", action="store_true", help="1 round x 3 s")
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--duration", type=float)
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args(argv)
    rounds = args.rounds or (1 if args.quick else 3)
    seconds = args.duration or (3.0 if args.quick else 10.0)
    warmup = 1.0 if args.quick else 5.0
    command = "python -m benchmarks.ratelimit.pipeline_cost " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    py = sys.executable
    with (
        tempfile.TemporaryDirectory(prefix="tailor-rl-bench-") as tmp,
        Processes(Path(tmp)) as procs,
    ):
        work = Path(tmp)
        work.chmod(0o755)
        say("recording the mobile home fan-out from the real services")
        fx = fixture.record(work / "fixture")
        entitled = serve_app_record(fx)
        upstream = fixture.serve(fx, procs, LOAD_CPU)
        ports = free_ports(4)
        modules = {"full": "waveform.bffs.mobile", "bare": "benchmarks.ratelimit.bare_mobile"}
        urls: dict[str, str] = {}
        for key, cfg in configs(upstream, ports, entitled).items():
            path = work / f"{key}.json"
            path.write_text(json.dumps(cfg, indent=2))
            procs.start(key, [py, "-m", modules[key], "--config", str(path)], cpu=BFF_CPU, cwd=ROOT)
            procs.wait_http(key, f"http://127.0.0.1:{cfg['admin']['port']}/healthz")
            urls[key] = f"http://127.0.0.1:{cfg['listen']['port']}/v1/home"
        bodies = {key: fetch(url, fx.token) for key, url in urls.items()}
        if bodies["full"][0] != bodies["bare"][0]:
            raise RuntimeError("full and bare answer different homes")
        headers = bodies["full"][1]
        if "ratelimit" not in headers:
            raise RuntimeError(f"the full pipeline did not rate-limit: {sorted(headers)}")
        say(f"both answer the same home; full adds RateLimit: {headers['ratelimit']}")
        say(f"entitlements stage: {'on' if entitled else 'not in this tree / off'}")
        for url in urls.values():
            wrk.run(url, seconds=warmup, connections=args.connections, token=fx.token, cpu=LOAD_CPU)
        results: dict[str, list[wrk.WrkResult]] = {"full": [], "bare": []}
        for n in range(1, rounds + 1):
            for key, url in urls.items():
                r = wrk.run(
                    url, seconds=seconds, connections=args.connections, token=fx.token,
                    cpu=LOAD_CPU, pgid=procs.started[key].pid,
                )  # fmt: skip
                results[key].append(r)
                errors = r.non_2xx + r.socket_errors + r.timeouts
                cpu_us = r.contender_cpu_pct / 100 * seconds / max(r.requests, 1) * 1e6
                say(
                    f"round {n}/{rounds} {key:<4} {r.rps:>8,.0f} rps  p50 {r.p50_ms:6.2f} ms  "
                    f"p99 {r.p99_ms:7.2f} ms  BFF CPU {cpu_us:5.0f} us/req"
                    + (f"  errors {errors}" if errors else "")
                )
    summary = {
        key: {
            "rps": statistics.median(r.rps for r in rs),
            # The BFF process's own CPU per request: what the stages cost, and much less
            # sensitive than rps to other load on the machine (wrk's window ~ ``seconds``).
            "cpu_us_per_request": statistics.median(
                r.contender_cpu_pct / 100 * seconds / max(r.requests, 1) * 1e6 for r in rs
            ),
            "p50_ms": statistics.median(r.p50_ms for r in rs),
            "p99_ms": statistics.median(r.p99_ms for r in rs),
            "errors": sum(r.non_2xx + r.socket_errors + r.timeouts for r in rs),
            "rounds": [r.as_dict() for r in rs],
        }
        for key, rs in results.items()
    }
    fewer = 100.0 * (1 - summary["full"]["rps"] / summary["bare"]["rps"])
    # At saturation a CPU-bound process serves 1/cpu-per-request: the rps it would lose.
    cpu_fewer = 100.0 * (
        1 - summary["bare"]["cpu_us_per_request"] / summary["full"]["cpu_us_per_request"]
    )
    out = {
        "command": command.strip(),
        "settings": {"rounds": rounds, "seconds": seconds, "connections": args.connections},
        "entitlements": entitled,
        "full": summary["full"],
        "bare": summary["bare"],
        "fewer_rps_pct": round(fewer, 1),
        "fewer_rps_by_cpu_pct": round(cpu_fewer, 1),
        "load_average": Path("/proc/loadavg").read_text().split()[:3],
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")
    say(
        f"full {summary['full']['rps']:,.0f} rps vs bare {summary['bare']['rps']:,.0f} rps: "
        f"{fewer:.1f}% fewer (target <= 20%)"
    )
    say(
        f"BFF CPU per request: full {summary['full']['cpu_us_per_request']:.0f} us, bare "
        f"{summary['bare']['cpu_us_per_request']:.0f} us: {cpu_fewer:.1f}% fewer rps when "
        "CPU-bound"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
