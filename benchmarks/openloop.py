"""Fixed-rate, open-loop load (benchmarks/peers/openloop.c), with the CPU the contender and
the delaying upstream used while it ran.

wrk2 is not packaged in Debian, so the generator is a small C program doing what it does:
request i is due at start + i / rate, sent within microseconds of that (a timerfd, not a
millisecond timer), and its latency counts from then, not from when it left. It replaced a
Node generator whose own timer and event loop added about 0.8 ms at p50 and 4-12 ms at p99.
Compiled on first use (``tools.openloop_binary``).
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
    warmup: float = 0.0,
    pgids: dict[str, int] | None = None,
    connections: int | None = None,
    connection_per_request: bool = False,
    deadline_ms: float | None = None,
) -> dict[str, Any]:
    """One open-loop run of ``seconds`` after ``warmup`` seconds at the same rate on the same
    connections, which count nowhere; ``pgids`` names process groups whose CPU share (percent
    of one core, over the measured seconds) is recorded as ``<name>_cpu_pct``. The generator
    opens up to ``connections`` (its default: 512), or one per request with
    ``connection_per_request``; ``deadline_ms`` is what its overload counts measure against."""
    argv = [
        "taskset", "-c", str(cpu), str(tools.openloop_binary()),
        "--url", url, "--rate", f"{rate:.1f}", "--seconds", f"{seconds:g}",
        "--warmup", f"{warmup:g}", "--header", f"authorization: Bearer {token}",
    ]  # fmt: skip
    if connections is not None:
        argv += ["--connections", str(connections)]
    if connection_per_request:
        argv.append("--connection-per-request")
    if deadline_ms is not None:
        argv += ["--deadline-ms", f"{deadline_ms:g}"]
    groups = pgids or {}
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # The CPU shares cover the measured part only: read once the warm-up is over. The
        # generator's schedule is fixed from its start, so waiting out the warm-up's length
        # lines the reading up with it to within a few ms of start-up (CPU is read in 10 ms
        # ticks); nothing waits on the generator's state.
        if groups and warmup > 0:
            time.sleep(warmup)
        before = {k: wrk.group_cpu_seconds(v) for k, v in groups.items()}
        cores = wrk._cpu_times()
        started = time.monotonic()
        out, err = process.communicate(timeout=seconds + warmup + 60)
        elapsed = time.monotonic() - started
        cores_busy = wrk._busy(cores, wrk._cpu_times())
    except BaseException:
        process.kill()
        process.wait()
        raise
    if process.returncode != 0:
        raise RuntimeError(f"openloop failed ({process.returncode}):\n{out}\n{err}")
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    result["generator"] = "openloop.c"  # the report describes older results' Node generator
    # How busy each core was (every process on it; the drain after the last due time
    # included): whether the load generator's core, not the contender's, set the pace.
    result["core_busy_pct"] = cores_busy
    for k, v in groups.items():
        result[f"{k}_cpu_pct"] = round(100.0 * (wrk.group_cpu_seconds(v) - before[k]) / elapsed, 1)
    return result
