"""Edge cache figures on the mobile home: hit ratio and rps with and without the cache, and
invalidation delay across two mobile instances sharing Redis.

    .venv/bin/python -m benchmarks.cache.run [--seconds 10] [--connections 32] [--posts 20]

Starts the services, a redis-server and three mobile BFF processes on loopback: two with the
cache (memory backend, invalidated over Redis) and one with ``cache.enabled = false``. Load is
wrk (one thread, pinned to a core) for alice's ``GET /v1/home``; a second cached run has bob
post a track every second (each post purges alice's home), so its hit ratio shows what writes
cost. Then bob posts ``--posts`` tracks and the time until each shows on BOTH cached
instances is measured by polling. Bounded in count and time; loopback only.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from benchmarks import wrk
from waveform.services import SERVICES
from waveform.supervisor import Platform, free_ports

SCALE = 2000
RESULTS = Path(__file__).with_name("results.json")


@contextmanager
def mobile_instance(p: Platform, name: str, overrides: dict[str, Any]) -> Iterator[str]:
    """Another mobile BFF process with the platform's config plus ``overrides``."""
    port, admin = free_ports(2)
    config = p.bff_config("mobile")
    config.update({"listen": {"host": "127.0.0.1", "port": port},
                   "admin": {"host": "127.0.0.1", "port": admin}, **overrides})  # fmt: skip
    path = p.data_dir / f"bff-{name}.json"
    path.write_text(json.dumps(config))
    proc = subprocess.Popen(
        [sys.executable, "-m", "waveform.bffs.mobile", "--config", str(path)],
        env={**os.environ, **p.components["mobile"].env},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{admin}/healthz", timeout=0.5):
                    break
            except (urllib.error.URLError, OSError):
                time.sleep(0.05)
        else:
            raise RuntimeError(f"{name} did not become healthy")
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def login(http: httpx.Client, base: str, user: str) -> str:
    r = http.post(f"{base}/v1/auth/token", json={"grant_type": "password", "username": user,
                                                 "password": f"wave-{user}"})  # fmt: skip
    r.raise_for_status()
    return str(r.json()["access_token"])


class Poster:
    """bob posts tracks through the tracks service; rights and media build their rows from
    the ``track.posted`` event, as for any post (no direct database writes)."""

    def __init__(self, p: Platform, http: httpx.Client) -> None:
        self.p = p
        self.http = http
        self.n = 0
        self.token = p.internal_token("tracks", "u2")

    def post(self) -> str:
        self.n += 1
        track_id = f"t{980000 + self.n}"
        r = self.http.post(f"{self.p.url('tracks')}/tracks",
                           json={"id": track_id, "owner_id": "u2", "title": "bench",
                                 "duration_ms": 1000},
                           headers={"authorization": f"Bearer {self.token}"})  # fmt: skip
        r.raise_for_status()
        return track_id


def lookups(http: httpx.Client, admin_url: str) -> dict[str, float]:
    found: dict[str, float] = {}
    for line in http.get(f"{admin_url}/metrics").text.splitlines():
        if line.startswith("tailor_cache_lookups_total{") and 'route="/v1/home"' in line:
            result = line.split('result="', 1)[1].split('"', 1)[0]
            found[result] = float(line.rsplit(" ", 1)[1])
    return found


def hit_ratio(before: dict[str, float], after: dict[str, float]) -> float:
    delta = {k: after.get(k, 0.0) - before.get(k, 0.0) for k in set(before) | set(after)}
    total = sum(delta.values())
    return round(delta.get("hit", 0.0) / total, 4) if total else 0.0


def load(url: str, token: str, args: argparse.Namespace) -> wrk.WrkResult:
    return wrk.run(f"{url}/v1/home", seconds=args.seconds, connections=args.connections,
                   token=token, cpu=args.wrk_cpu)  # fmt: skip


def shown_on(http: httpx.Client, url: str, token: str, track_id: str) -> bool:
    r = http.get(f"{url}/v1/home", headers={"authorization": f"Bearer {token}"})
    return any(c["track"]["id"] == track_id for c in r.json()["stream"]["items"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.cache.run")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--posts", type=int, default=20)
    parser.add_argument("--wrk-cpu", type=int, default=1)
    args = parser.parse_args(argv)
    out: dict[str, Any] = {"seconds": args.seconds, "connections": args.connections}
    with (
        tempfile.TemporaryDirectory() as tmp,
        Platform(
            tmp, ephemeral=True, scale=SCALE, redis=True, components=[*SERVICES, "mobile"]
        ) as p,
        httpx.Client(timeout=10) as http,
    ):
        cached = p.url("mobile")
        admin = p.admin_url("mobile")
        nocache = {"cache": {"enabled": False}}
        with (
            mobile_instance(p, "mobile-2", {}) as second,
            mobile_instance(p, "mobile-nocache", nocache) as plain,
        ):
            token = login(http, cached, "alice")
            load(plain, token, argparse.Namespace(**{**vars(args), "seconds": 2}))  # warm-up
            out["without_cache"] = load(plain, token, args).as_dict()
            before = lookups(http, admin)
            out["with_cache"] = load(cached, token, args).as_dict()
            out["with_cache"]["hit_ratio"] = hit_ratio(before, lookups(http, admin))

            poster = Poster(p, http)
            stop = threading.Event()

            def post_every_second() -> None:
                while not stop.wait(1.0):
                    poster.post()

            writer = threading.Thread(target=post_every_second, daemon=True)
            before = lookups(http, admin)
            writer.start()
            out["with_cache_and_a_post_per_second"] = load(cached, token, args).as_dict()
            stop.set()
            writer.join()
            out["with_cache_and_a_post_per_second"]["hit_ratio"] = hit_ratio(
                before, lookups(http, admin))  # fmt: skip

            delays: list[float] = []
            for _ in range(args.posts):
                posted_at = time.monotonic()
                track_id = poster.post()
                pending = {cached, second}
                while pending and time.monotonic() - posted_at < 5:
                    pending = {u for u in pending if not shown_on(http, u, token, track_id)}
                    if pending:
                        time.sleep(0.005)
                if pending:
                    raise RuntimeError(f"{track_id} did not show on {pending} within 5 s")
                delays.append(time.monotonic() - posted_at)
                time.sleep(0.2)
            out["invalidation_delay_ms"] = {
                "posts": len(delays),
                "median": round(statistics.median(delays) * 1000, 1),
                "max": round(max(delays) * 1000, 1),
                "note": "post accepted -> visible on both cached mobile instances (polled 5 ms)",
            }
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
