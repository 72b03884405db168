"""Run h2load (Debian ``nghttp2-client``) and read its rate, errors and the server's CPU per
request. One load generator for both protocols: ``--h1`` drives HTTP/1.1 the way h2c is
driven (``-m`` requests in flight per connection, pipelined), so their ratio is the protocols'.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import asdict, dataclass
from typing import Any

from benchmarks.wrk import group_cpu_seconds

_RPS = re.compile(r"finished in [\d.]+m?s, ([\d.]+) req/s")
_REQUESTS = re.compile(r"requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed")
_STATUS = re.compile(r"status codes: (\d+) 2xx")


@dataclass
class H2loadResult:
    rps: float
    succeeded: int
    failed: int
    ok_2xx: int
    #: the contender's CPU (user + system, every process of its group) per answer, microseconds
    cpu_us_per_request: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse(output: str) -> H2loadResult:
    """
    >>> r = parse("finished in 10.00s, 1234.50 req/s, 1MB/s\\n"
    ...           "requests: 12345 total, 12345 started, 12345 done, 12340 succeeded, 5 failed,"
    ...           " 5 errored, 0 timeout\\nstatus codes: 12340 2xx, 0 3xx, 0 4xx, 0 5xx\\n")
    >>> (r.rps, r.succeeded, r.failed, r.ok_2xx)
    (1234.5, 12340, 5, 12340)
    """
    rps, requests, status = _RPS.search(output), _REQUESTS.search(output), _STATUS.search(output)
    if rps is None or requests is None or status is None:
        raise ValueError(f"cannot read h2load output:\n{output}")
    return H2loadResult(
        rps=float(rps.group(1)),
        succeeded=int(requests.group(1)),
        failed=int(requests.group(2)),
        ok_2xx=int(status.group(1)),
    )


def run(
    url: str,
    *,
    seconds: float,
    token: str,
    cpu: int,
    http1: bool = False,
    connections: int = 16,
    streams: int = 10,
    pgid: int | None = None,
) -> H2loadResult:
    """h2load for ``seconds`` against ``url`` (h2c with prior knowledge, or HTTP/1.1 with
    ``http1``), ``connections`` x ``streams`` in flight, pinned to core ``cpu``."""
    argv = [
        "taskset", "-c", str(cpu), "h2load", "-t1", f"-c{connections}", f"-m{streams}",
        f"-D{max(1, round(seconds))}", "-H", f"authorization: Bearer {token}",
        *(["--h1"] if http1 else []), url,
    ]  # fmt: skip
    own_before = group_cpu_seconds(pgid) if pgid else 0.0
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
    own = (group_cpu_seconds(pgid) if pgid else 0.0) - own_before
    if done.returncode != 0:
        raise RuntimeError(f"h2load failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    result = parse(done.stdout)
    if result.succeeded:
        result.cpu_us_per_request = round(own / result.succeeded * 1e6, 1)
    return result
