"""Read-your-writes: how long after a command's answer the caller's next read shows it.

The whole platform runs on loopback with a real redis-server (services, the mobile, web and
public BFFs, ephemeral ports, a temporary data directory). carol, signed in on each BFF,
alternately likes and unlikes a track through the web BFF; as soon as the answer arrives,
one poller per BFF reads the track screen (``liked``) until it shows the new state. She also
creates playlists through the mobile BFF, whose home screen is cached 60 s per user and
purged by the playlists service's change notice (``playlists:<user>`` on
``tailor:invalidate``): the delay until her home lists the new playlist is the edge cache's
share of read-your-writes.

The delay of a read is from the command's answer to the answer of the first read that
reflects it (reads are sent back to back, each bounded by ``--timeout-s``).

    python -m benchmarks.read_your_writes --commands 200     # the figures
    python -m benchmarks.read_your_writes --commands 3 --no-write   # a quick check

``results/read_your_writes.json`` keeps the last run; the lead quotes it in docs/benchmarks.md.
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

import httpx

from waveform.services import SERVICES
from waveform.supervisor import Platform

RESULTS = Path(__file__).resolve().parent / "results" / "read_your_writes.json"
USER = "carol"
TRACKS = ("t21", "t22", "t23", "t24", "t25")  # public, unrestricted: visible to carol
SCREENS = {"web": "/api/tracks/{id}", "mobile": "/v1/tracks/{id}", "public": "/v1/tracks/{id}"}


async def login(http: httpx.AsyncClient, platform: Platform, bff: str) -> str:
    path, extra = {
        "web": ("/api/auth/token", {}),
        "mobile": ("/v1/auth/token", {}),
        "public": ("/v1/oauth/token", {"client_id": "acme-player"}),
    }[bff]
    response = await http.post(
        f"{platform.url(bff)}{path}",
        json={"grant_type": "password", "username": USER, "password": f"wave-{USER}", **extra},
    )
    response.raise_for_status()
    return str(response.json()["access_token"])


async def first_reflecting(
    http: httpx.AsyncClient, url: str, token: str, shows: Any, answered: float, timeout_s: float
) -> float:
    """Seconds from ``answered`` until a read of ``url`` satisfies ``shows``."""
    headers = {"authorization": f"Bearer {token}"}
    deadline = answered + timeout_s
    while time.perf_counter() < deadline:
        response = await http.get(url, headers=headers)
        if response.status_code == 200 and shows(response.json()):
            return time.perf_counter() - answered
    raise TimeoutError(f"{url} did not reflect the command within {timeout_s} s")


async def command(
    http: httpx.AsyncClient, method: str, url: str, headers: dict[str, str], json: Any = None
) -> httpx.Response:
    """A command, sent again after its Retry-After while the per-user write limit refuses it
    (429): the delay measured starts at the answer that took it."""
    while True:
        response = await http.request(method, url, headers=headers, json=json)
        if response.status_code != 429:
            return response
        await asyncio.sleep(float(response.headers.get("retry-after", "1")))


def summary(delays: list[float]) -> dict[str, float]:
    ordered = sorted(delays)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return {
        "n": len(ordered),
        "median_ms": round(statistics.median(ordered) * 1000, 2),
        "p99_ms": round(p99 * 1000, 2),
        "max_ms": round(ordered[-1] * 1000, 2),
    }


async def measure(platform: Platform, commands: int, timeout_s: float) -> dict[str, Any]:
    limits = httpx.Limits(max_connections=16)
    async with httpx.AsyncClient(timeout=timeout_s, limits=limits) as http:
        tokens = {bff: await login(http, platform, bff) for bff in SCREENS}
        delays: dict[str, list[float]] = {bff: [] for bff in SCREENS}
        delays["mobile-home"] = []
        web = {"authorization": f"Bearer {tokens['web']}"}
        await _warm(http, platform, web, timeout_s)
        for i in range(commands):
            track = TRACKS[i % (len(TRACKS) - 1)]  # the last one is for warming up
            liked = (i // (len(TRACKS) - 1)) % 2 == 0
            method = "POST" if liked else "DELETE"
            response = await command(
                http, method, f"{platform.url('web')}/api/tracks/{track}/like", headers=web
            )
            answered = time.perf_counter()
            response.raise_for_status()
            found = await asyncio.gather(*(
                first_reflecting(
                    http, platform.url(bff) + path.format(id=track), tokens[bff],
                    lambda body, want=liked: body.get("liked") is want, answered, timeout_s,
                )
                for bff, path in SCREENS.items()
            ))  # fmt: skip
            for bff, delay in zip(SCREENS, found, strict=True):
                delays[bff].append(delay)
            delays["mobile-home"].append(await _playlist_on_home(http, platform, tokens, i,
                                                                 timeout_s))  # fmt: skip
    return {name: summary(values) for name, values in delays.items()}


async def _warm(
    http: httpx.AsyncClient, platform: Platform, web: dict[str, str], timeout_s: float
) -> None:
    """One untimed like and unlike first: the services' first internal-token exchanges and
    connections are not what this measures. Retried (a bounded number of times) while the
    freshly started platform still answers 5xx."""
    url = f"{platform.url('web')}/api/tracks/{TRACKS[-1]}/like"
    deadline = time.perf_counter() + 6 * timeout_s
    for method in ("POST", "DELETE"):
        while (await http.request(method, url, headers=web)).status_code >= 500:
            if time.perf_counter() > deadline:
                raise TimeoutError("the platform did not take a command while warming up")


async def _playlist_on_home(
    http: httpx.AsyncClient, platform: Platform, tokens: dict[str, str], i: int, timeout_s: float
) -> float:
    """Create a playlist on mobile with the home already cached; until her home lists it."""
    mobile = platform.url("mobile")
    headers = {"authorization": f"Bearer {tokens['mobile']}"}
    (await http.get(f"{mobile}/v1/home", headers=headers)).raise_for_status()  # cached now
    title = f"bench {i} {time.time_ns()}"
    response = await command(
        http, "POST", f"{mobile}/v1/playlists", headers=headers,
        json={"title": title, "track_ids": [TRACKS[0]]},
    )  # fmt: skip
    answered = time.perf_counter()
    response.raise_for_status()

    def shows(body: Any) -> bool:
        return title in json.dumps(body)

    return await first_reflecting(
        http, f"{mobile}/v1/home", tokens["mobile"], shows, answered, timeout_s
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.read_your_writes",
                                     description=__doc__.split("\n\n")[0])  # fmt: skip
    parser.add_argument("--commands", type=int, default=200, help="likes to measure (default 200)")
    parser.add_argument("--timeout-s", type=float, default=5.0, help="bound on each wait")
    parser.add_argument("--scale", type=int, default=2000, help="tracks in the seeded world")
    parser.add_argument("--no-write", action="store_true", help="leave results/ untouched")
    args = parser.parse_args(argv)
    if args.commands < 1:
        parser.error("--commands must be at least 1")
    with (
        tempfile.TemporaryDirectory(prefix="waveform-ryw-") as data_dir,
        Platform(Path(data_dir), ephemeral=True, scale=args.scale, redis=True,
                 components=[*SERVICES, "mobile", "web", "public"]) as platform,
    ):  # fmt: skip
        if platform.failures:
            print([f.describe() for f in platform.failures.values()], file=sys.stderr)
            return 1
        figures = asyncio.run(measure(platform, args.commands, args.timeout_s))
    report = {"commands": args.commands, "scale": args.scale, "delays": figures}
    print(json.dumps(report, indent=2))
    if not args.no_write:
        RESULTS.parent.mkdir(exist_ok=True)
        RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
