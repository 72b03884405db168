"""Run wrk and read rps and latency percentiles from its ``--latency`` output."""

from __future__ import annotations

import os
import re
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}
_PCT = re.compile(r"^\s*(50|75|90|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s|m)\s*$", re.M)
_RPS = re.compile(r"^Requests/sec:\s+([\d.]+)", re.M)
_TOTAL = re.compile(r"^\s*(\d+) requests in ([\d.]+)(us|ms|s|m)", re.M)
_NON2XX = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
_SOCKET = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")


@dataclass
class WrkResult:
    rps: float
    p50_ms: float
    p75_ms: float
    p90_ms: float
    p99_ms: float
    requests: int
    non_2xx: int
    socket_errors: int
    timeouts: int
    #: busy share of each core during the run, in percent ("cpu0" -> 97.5)
    cpu_busy_pct: dict[str, float] = field(default_factory=dict)
    #: CPU the contender's own processes used, in percent of one core (100 = a full core)
    contender_cpu_pct: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse(output: str) -> WrkResult:
    """
    >>> r = parse("  Latency Distribution\\n     50%  1.50ms\\n     75%  2.00ms\\n"
    ...           "     90%  3.00ms\\n     99%   1.20s\\n  100 requests in 1.00s, 1MB read\\n"
    ...           "Requests/sec:    100.00\\n")
    >>> (r.rps, r.p50_ms, r.p99_ms, r.requests)
    (100.0, 1.5, 1200.0, 100)
    """
    rps = _RPS.search(output)
    total = _TOTAL.search(output)
    pcts = {int(p): float(v) * _UNITS[u] for p, v, u in _PCT.findall(output)}
    if rps is None or total is None or 50 not in pcts or 99 not in pcts:
        raise ValueError(f"cannot read wrk output:\n{output}")
    non2xx = _NON2XX.search(output)
    sock = _SOCKET.search(output)
    errors = [int(x) for x in sock.groups()] if sock else [0, 0, 0, 0]
    return WrkResult(
        rps=float(rps.group(1)),
        p50_ms=pcts[50],
        p75_ms=pcts.get(75, 0.0),
        p90_ms=pcts.get(90, 0.0),
        p99_ms=pcts[99],
        requests=int(total.group(1)),
        non_2xx=int(non2xx.group(1)) if non2xx else 0,
        socket_errors=sum(errors[:3]),
        timeouts=errors[3],
    )


def _cpu_times() -> dict[str, tuple[int, int]]:
    """Per core: (busy, total) jiffies from /proc/stat."""
    out: dict[str, tuple[int, int]] = {}
    try:
        lines = Path("/proc/stat").read_text().splitlines()
    except OSError:
        return out
    for line in lines:
        name, *rest = line.split()
        if name.startswith("cpu") and name != "cpu":
            ticks = [int(x) for x in rest[:8]]
            idle = ticks[3] + ticks[4]  # idle + iowait
            out[name] = (sum(ticks) - idle, sum(ticks))
    return out


def _busy(
    before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]
) -> dict[str, float]:
    busy = {}
    for name, (b1, t1) in after.items():
        b0, t0 = before.get(name, (0, 0))
        busy[name] = round(100.0 * (b1 - b0) / (t1 - t0), 1) if t1 > t0 else 0.0
    return busy


def group_cpu_seconds(pgid: int) -> float:
    """User + system CPU seconds of every live process in process group ``pgid``."""
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2 :].split()
        if int(fields[2]) == pgid:  # field 5, pgrp
            ticks += int(fields[11]) + int(fields[12])  # fields 14, 15: utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def command(
    url: str,
    *,
    seconds: float,
    connections: int,
    token: str,
    cpu: int,
    timeout_s: int = 10,
    headers: tuple[str, ...] = (),
) -> list[str]:
    extra = [arg for header in headers for arg in ("-H", header)]
    return [
        "taskset",
        "-c",
        str(cpu),
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        f"--timeout={timeout_s}s",
        "--latency",
        "-H",
        f"Authorization: Bearer {token}",
        *extra,
        url,
    ]


def run(
    url: str,
    *,
    seconds: float,
    connections: int,
    token: str,
    cpu: int,
    timeout_s: int = 10,
    pgid: int | None = None,
    headers: tuple[str, ...] = (),
) -> WrkResult:
    """``headers``: more request header lines (``"Connection: close"`` makes wrk open a new
    connection per request)."""
    argv = command(
        url,
        seconds=seconds,
        connections=connections,
        token=token,
        cpu=cpu,
        timeout_s=timeout_s,
        headers=headers,
    )
    before = _cpu_times()
    own_before = group_cpu_seconds(pgid) if pgid else 0.0
    started = time.monotonic()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
    elapsed = time.monotonic() - started
    own_after = group_cpu_seconds(pgid) if pgid else 0.0
    after = _cpu_times()
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    result = parse(done.stdout)
    result.cpu_busy_pct = _busy(before, after)
    result.contender_cpu_pct = round(100.0 * (own_after - own_before) / elapsed, 1)
    return result
