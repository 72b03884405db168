"""Fixed-rate, open-loop load (benchmarks/peers/node/openloop.js), with the CPU the contender
and the delaying upstream used while it ran.

wrk2 is not packaged in Debian; the Node generator does the same job at the rates this
benchmark needs (half of each contender's peak, a few hundred to a few thousand per second):
each request is due at a fixed time and its latency counts from then.
"""

from __future__ import annotations

import json
import subprocess
import time
from typing import Any

from benchmarks import tools, wrk


def run(
    url: str,
    *,
    rate: float,
    seconds: float,
    token: str,
    cpu: int | str,
    pgids: dict[str, int] | None = None,
) -> dict[str, Any]:
    """One open-loop run; ``pgids`` names process groups whose CPU share (percent of one core)
    is recorded as ``<name>_cpu_pct``."""
    argv = [
        "taskset", "-c", str(cpu), "node", str(tools.NODE_DIR / "openloop.js"),
        "--url", url, "--rate", f"{rate:.1f}", "--seconds", f"{seconds:g}",
        "--header", f"authorization: Bearer {token}",
    ]  # fmt: skip
    groups = pgids or {}
    before = {k: wrk.group_cpu_seconds(v) for k, v in groups.items()}
    started = time.monotonic()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
    elapsed = time.monotonic() - started
    if done.returncode != 0:
        raise RuntimeError(f"openloop failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    for k, v in groups.items():
        result[f"{k}_cpu_pct"] = round(100.0 * (wrk.group_cpu_seconds(v) - before[k]) / elapsed, 1)
    return result
