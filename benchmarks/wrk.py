"""Run wrk and read rps and latency percentiles from its ``--latency`` output."""

from __future__ import annotations

import re
import subprocess
from dataclasses import asdict, dataclass
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


def command(
    url: str, *, seconds: float, connections: int, token: str, cpu: int, timeout_s: int = 10
) -> list[str]:
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
        url,
    ]


def run(
    url: str, *, seconds: float, connections: int, token: str, cpu: int, timeout_s: int = 10
) -> WrkResult:
    argv = command(
        url, seconds=seconds, connections=connections, token=token, cpu=cpu, timeout_s=timeout_s
    )
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return parse(done.stdout)
