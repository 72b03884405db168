"""Instructions per request, counted by valgrind: a hot-path figure other work cannot move.

    python -m benchmarks.instructions                 # home (full pipeline) and cache hit
    python -m benchmarks.instructions --requests 300  # fewer requests: quicker, as exact
    BENCH_CONFIG='{"logs": {"access": false}}' python -m benchmarks.instructions --no-write

Timed figures on a shared 2-core machine move by 10-20% between runs; an instruction count does
not. The real mobile BFF (its full profile, every request charging the IP, user and app quotas)
runs in a child process under ``valgrind --tool=callgrind`` against the fixture nginx over real
loopback sockets, one request at a time (valgrind slows the code about fiftyfold; one at a time,
no call gets near its timeout). The child is run twice, with ``--requests`` more requests the
second time; the difference of the two totals divided by ``--requests`` is the cost of one
request, with start-up and warm-up cancelled out. Counted: user-space instructions of every
thread of the BFF process (Python, msgspec, uvloop, llhttp, libc); not counted: the kernel's
side of the system calls, which ``python -m benchmarks.transports`` times.

Scenarios: ``home`` (GET /v1/home, six inward calls, edge cache off), ``cache`` (the same
request answered by the edge cache, memory backend) and ``cache-zstd`` (the same hit asked
with ``Accept-Encoding: zstd``, answered from the variant stored at fill) call the pipeline
in-process. ``home-served``, ``cache-served`` and ``cache-zstd-served`` are the same requests
through tailor's HTTP/1.1 server
(:mod:`tailor.serve.http1`): the child serves on a loopback port, this process sends the
requests over one kept-alive connection, and the child exits after the last answer, so the
count is the server's and the pipeline's work together, and the client's is not in it.
``shed-served`` (on request) is ``home-served`` against a BFF whose shed stage refuses all but
the connection's first request: the cost of one refusal on a kept-alive connection. A
change to the hot path shows up here as a different count on any machine;
``results/instructions.json`` keeps the last run and ``docs/benchmarks.md`` quotes it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import fixture
from benchmarks.procs import Processes
from tailor.validation import deep_merge

RESULTS = Path(__file__).resolve().parent / "results" / "instructions.json"
SCENARIOS = ("home", "cache", "cache-zstd", "home-served", "cache-served", "cache-zstd-served")
#: Counted on request (``--scenarios``), not by default: the cache hit driven by h2load, ten
#: requests in flight on one connection, over h2c and over HTTP/1.1 (pipelined), as the http2
#: scenario of ``benchmarks.run`` drives them: what one HTTP/2 stream costs against one
#: HTTP/1.1 request under the same load.
LOADED = ("cache-h2c-served", "cache-h1-served")
#: Counted on request: the home asked as in ``home-served`` of a BFF whose shed stage refuses
#: every request but a connection's first (its cap held at 0, as an overload shrinks it): what
#: one refusal on a kept-alive connection costs, against one home served.
SHED = ("shed-served",)
#: h2load's requests in flight on its one connection in the LOADED scenarios.
IN_FLIGHT = 10
UPSTREAM_CPU = 1
#: Requests before counting starts in earnest: JWKS, app registry, internal tokens, the cache.
WARM = 50
#: Requests in the first (baseline) child run, on top of the warm-up.
BASE = 100
_COLLECTED = re.compile(r"Collected : (\d+)")
#: No timer whose work grows with wall time: the shed stage's loop-lag probe runs every 10 ms,
#: and under valgrind a request takes long enough for several, more on a loaded machine, so
#: with it the count per request moved with the machine's load. With the cap fixed, the count
#: is the request's own work.
STEADY = {"resilience": {"shed": {"target_lag_s": 0}}}


def count(
    scenario: str,
    requests: int,
    upstream: str,
    token: str,
    out: str = "/dev/null",
    config: dict[str, Any] | None = None,
) -> int:
    """Instructions of one child run serving ``WARM + requests`` requests (the profile in
    ``out``, for ``callgrind_annotate``), with ``config`` (else ``BENCH_CONFIG``) merged
    over the BFF's."""
    argv = [
        "valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
        sys.executable, "-m", "benchmarks.instructions", "--child", scenario,
        "--requests", str(requests), "--upstream", upstream,
    ]  # fmt: skip
    # The same hash seed in every run: dict and set layouts, and so the work, are repeatable.
    env = {**os.environ, "PYTHONHASHSEED": "0", "BENCH_TOKEN": token}
    if config is not None:
        env["BENCH_CONFIG"] = json.dumps(config)
    if scenario in LOADED:
        stderr = _count_loaded(argv, env, WARM + requests, token, scenario)
        returncode = 0
    elif scenario.endswith("-served"):
        stderr = _count_served(argv, env, WARM + requests, token, scenario)
        returncode = 0
    else:
        done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=1800)
        stderr, returncode = done.stderr, done.returncode
    found = _COLLECTED.search(stderr)
    if returncode != 0 or found is None:
        raise RuntimeError(f"{scenario}: the counted run failed:\n{stderr}")
    return int(found.group(1))


def _count_served(argv: list[str], env: dict[str, str], n: int, token: str, scenario: str) -> str:
    """Run the serving child, send it ``n`` homes one at a time from here over one connection,
    close it, and return the child's stderr (where callgrind writes its total as it exits)."""
    hit, coding = scenario.startswith("cache"), _coding(scenario)
    asks = f"accept-encoding: {coding}\r\n" if coding else ""
    child = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        assert child.stdout is not None and child.stderr is not None
        line = child.stdout.readline()  # "port N", once the child listens
        if not line.startswith("port "):
            raise RuntimeError(f"the serving child did not start: {line}{child.stderr.read()}")
        request = (
            f"GET /v1/home HTTP/1.1\r\nhost: bench\r\nauthorization: Bearer {token}\r\n"
            f"accept: */*\r\n{asks}\r\n"
        ).encode()
        address = ("127.0.0.1", int(line.split()[1]))
        with socket.create_connection(address, timeout=600) as sock, sock.makefile("rb") as reader:
            for i in range(n):
                sock.sendall(request)
                status, headers = _read_answer(reader)
                warm = i >= WARM
                if scenario in SHED and i > 0:  # the first is served (admitted at accept)
                    if status != 503:
                        raise RuntimeError(f"answer {i}: {status}, not refused: {headers}")
                    continue
                if status != 200 or (hit and warm and headers.get("x-cache") != "hit"):
                    raise RuntimeError(f"answer {i}: {status} {headers}")
                if coding and warm and headers.get("content-encoding") != coding:
                    raise RuntimeError(f"answer {i} not in {coding}: {headers}")
        _, stderr = child.communicate(timeout=600)
        if child.returncode != 0:
            raise RuntimeError(f"the serving child failed ({child.returncode}):\n{stderr}")
        return stderr
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def _count_loaded(argv: list[str], env: dict[str, str], n: int, token: str, scenario: str) -> str:
    """Run the serving child and send it ``n`` homes with h2load over one connection,
    ``IN_FLIGHT`` at a time (HTTP/2 streams, or HTTP/1.1 pipelined with ``--h1``); the child's
    stderr (its callgrind total). Every answer must be a 2xx: h2load does not show headers,
    so a hit is known from the warm-up, as in ``benchmarks.run``."""
    child = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        assert child.stdout is not None and child.stderr is not None
        line = child.stdout.readline()
        if not line.startswith("port "):
            raise RuntimeError(f"the serving child did not start: {line}{child.stderr.read()}")
        port = int(line.split()[1])
        # The fill first, alone on a connection of its own: ten requests waiting behind a
        # miss that valgrind slows to seconds would be shed.
        with socket.create_connection(("127.0.0.1", port), timeout=600) as sock:
            sock.sendall(
                f"GET /v1/home HTTP/1.1\r\nhost: bench\r\nauthorization: Bearer {token}\r\n"
                "accept: */*\r\nconnection: close\r\n\r\n".encode()
            )
            with sock.makefile("rb") as reader:
                status, _ = _read_answer(reader)
            if status != 200:
                raise RuntimeError(f"the fill: {status}")
        n -= 1
        h1 = ["--h1"] if scenario == "cache-h1-served" else []
        done = subprocess.run(
            ["h2load", "-t1", "-c1", f"-m{IN_FLIGHT}", f"-n{n}", *h1,
             "-H", f"authorization: Bearer {token}", "-H", "accept: */*",
             f"http://127.0.0.1:{port}/v1/home"],
            capture_output=True, text=True, timeout=1800,
        )  # fmt: skip
        if done.returncode != 0 or f"status codes: {n} 2xx" not in done.stdout:
            raise RuntimeError(f"h2load: not {n} 2xx answers:\n{done.stdout}{done.stderr}")
        _, stderr = child.communicate(timeout=600)
        if child.returncode != 0:
            raise RuntimeError(f"the serving child failed ({child.returncode}):\n{stderr}")
        return stderr
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def _coding(scenario: str) -> str | None:
    """The content coding a scenario asks for (``cache-zstd`` asks for zstd)."""
    return "zstd" if "-zstd" in scenario else None


def _read_answer(reader: Any) -> tuple[int, dict[str, str]]:
    status = int(reader.readline().split()[1])
    headers: dict[str, str] = {}
    while (line := reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    reader.read(int(headers.get("content-length", "0")))
    return status, headers


async def serve(scenario: str, requests: int, upstream: str, token: str) -> None:
    """The child: the BFF in this process, ``WARM + requests`` requests one at a time."""
    from benchmarks.transports import drive, make

    cache = scenario.startswith("cache")
    # BENCH_CONFIG: JSON merged over the BFF's config, to count a variant (tracing, logs).
    variant = json.loads(os.environ.get("BENCH_CONFIG", "{}"))
    if scenario in SHED:
        _refusing_all()
    bff = make(upstream, "http1", cache=cache, config=deep_merge(STEADY, variant))
    try:
        if scenario.endswith("-served"):
            loaded = scenario in LOADED
            await _serve_socket(bff, http2=scenario == "cache-h2c-served", clients=1 + loaded)
            return
        coding = _coding(scenario)
        await drive(bff, token, WARM, 1, expect_hit=False, coding=coding)
        await drive(bff, token, requests, 1, expect_hit=cache, coding=coding)
        await flush_spans(bff)
    finally:
        await bff.shutdown()


def _refusing_all() -> None:
    """Every shed stage built from now on has its cap at 0 below its ceiling: it refuses every
    request ("overload") but a connection's first, which it lets past (admitted at accept)."""
    from tailor.stages.shed import ShedStage

    build = ShedStage.build.__func__  # type: ignore[attr-defined]

    def refusing(cls: type[ShedStage], ctx: Any) -> ShedStage | None:
        stage: ShedStage | None = build(cls, ctx)
        if stage is not None:
            stage.gate.max_in_flight = 0
        return stage

    ShedStage.build = classmethod(refusing)  # type: ignore[method-assign,assignment]


async def flush_spans(bff: Any) -> None:
    """With tracing on, send every recorded span before the count ends: at shutdown the
    exporter gives the last ones a second, which valgrind's slow clock may not cover, and an
    uncounted remainder that differs between the two runs would skew the difference."""
    from benchmarks.tracing import exporter_of

    exporter = exporter_of(bff)
    if exporter is not None:
        await exporter.flush()


async def _serve_socket(bff: Any, *, http2: bool = False, clients: int = 1) -> None:
    """Serve on tailor's server (h2c too with ``http2``) until ``clients`` connections, one
    after the other, have closed."""
    import asyncio

    from tailor.serve.http1 import Http1Server, ServerSettings

    closed = asyncio.get_running_loop().create_future()

    class OneClient(Http1Server):
        # Told when the client's connection is gone: no per-request hook to count. (An h2c
        # connection is forgotten once as HTTP/1.1 when its preface is seen, still open.)
        def forget(self, connection: Any) -> None:
            super().forget(connection)
            nonlocal clients
            if connection._transport is None:
                clients -= 1
            if clients == 0 and not closed.done():
                closed.set_result(None)

    # shedding as a worker's server asks it: a request's cost includes the question.
    settings = ServerSettings(keepalive_timeout_s=600, http2=http2, shedding=bff.shedding)
    server = OneClient(bff.respond, settings)
    await server.start(host="127.0.0.1", port=0)
    print(f"port {server.port}", flush=True)
    await closed
    await server.close(grace_s=5)


def per_request_of(
    scenario: str,
    requests: int,
    upstream: str,
    token: str,
    profile: str | None = None,
    config: dict[str, Any] | None = None,
) -> float:
    """Instructions of one request: two child runs, ``requests`` requests apart."""
    outs = ["/dev/null", "/dev/null"]
    if profile:
        outs = [f"{profile}/{scenario}.{n}.callgrind" for n in ("base", "more")]
    base = count(scenario, BASE, upstream, token, outs[0], config)
    more = count(scenario, BASE + requests, upstream, token, outs[1], config)
    return (more - base) / requests


def measure(args: argparse.Namespace, upstream: str, token: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for scenario in args.scenarios:
        started = time.monotonic()
        per_request = per_request_of(scenario, args.requests, upstream, token, args.profile)
        out[scenario] = {"instructions_per_request": round(per_request)}
        print(
            f"{scenario:<6} {per_request:12,.0f} instructions per request "
            f"({time.monotonic() - started:.0f} s)",
            flush=True,
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.instructions", description=__doc__)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--scenarios", type=lambda s: s.split(","), default=list(SCENARIOS))
    parser.add_argument("--no-write", action="store_true", help="leave results/ untouched")
    parser.add_argument("--profile", metavar="DIR", help="keep each run's callgrind profile in DIR")
    parser.add_argument("--child", choices=SCENARIOS + LOADED + SHED, help=argparse.SUPPRESS)
    parser.add_argument("--upstream", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        import uvloop

        uvloop.run(serve(args.child, args.requests, args.upstream, os.environ["BENCH_TOKEN"]))
        return 0
    if shutil.which("valgrind") is None:
        raise SystemExit("benchmarks.instructions needs valgrind: apt-get install -y valgrind")
    with (
        tempfile.TemporaryDirectory(prefix="tailor-instructions-") as tmp,
        Processes(Path(tmp)) as procs,
    ):
        work = Path(tmp)
        work.chmod(0o755)  # nginx workers run unprivileged and must reach the fixture files
        print("recording the mobile home fan-out from the real services", flush=True)
        fx = fixture.record(work / "fixture")
        upstream = fixture.serve(fx, procs, UPSTREAM_CPU)
        result = measure(args, upstream, fx.token)
    if not args.no_write:
        RESULTS.write_text(
            json.dumps(
                {
                    "measured": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
                    "requests": args.requests,
                    "scenarios": result,
                },
                indent=2,
            )
            + "\n"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
