"""``python -m tailor.serve`` as real processes: the factory's own config is what is served,
flags override only the keys they name, ``--workers 2`` runs with the admin listener on and
exposes every worker's metrics, two BFFs with default admin settings share a host, and a bad
BFF stops startup with status 2 and one message."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple

import httpx
import pytest

HERE = Path(__file__).parent
SRC = HERE.parents[2] / "src"
#: How long a test waits for a process to start, answer or stop.
PROCESS_TIMEOUT_S = 20.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _free_port_pair() -> int:
    """A port whose successor is free too (the admin ports of two workers)."""
    for _ in range(100):
        port = _free_port()
        with socket.socket() as s, contextlib.suppress(OSError):
            s.bind(("127.0.0.1", port + 1))
            return port
    raise AssertionError("no two consecutive free ports")


class Served(NamedTuple):
    proc: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text()


Start = Callable[..., Served]


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Start]:
    """``start(factory, *flags, env={...})``: ``python -m tailor.serve`` in its own process
    group, killed at teardown."""
    started: list[subprocess.Popen[bytes]] = []

    def start_server(factory: str, *flags: str, env: dict[str, str] | None = None) -> Served:
        log = tmp_path / f"serve-{len(started)}.log"
        environment = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(HERE), str(SRC)]),
            **(env or {}),
        }
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "tailor.serve", *flags, factory],
                cwd=HERE,
                env=environment,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        started.append(proc)
        return Served(proc, log)

    yield start_server
    for proc in started:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _get(served: Served, url: str) -> httpx.Response:
    """``url`` once it answers (bounded readiness poll), on a connection of its own."""
    deadline = time.monotonic() + PROCESS_TIMEOUT_S
    while time.monotonic() < deadline:
        if served.proc.poll() is not None:
            raise RuntimeError(f"the server exited: {served.output()[-2000:]}")
        try:
            return httpx.get(url, timeout=5)
        except httpx.TransportError:
            time.sleep(0.05)
    raise AssertionError(f"{url} never answered")


def _pids(served: Served, port: int, count: int) -> set[int]:
    """Requests on new connections until ``count`` different workers have answered."""
    seen: set[int] = set()
    deadline = time.monotonic() + PROCESS_TIMEOUT_S
    while len(seen) < count and time.monotonic() < deadline:
        seen.add(_get(served, f"http://127.0.0.1:{port}/pid").json()["pid"])
    assert len(seen) == count, f"answers came from {sorted(seen)} only"
    return seen


def _served_count(metrics: str) -> float:
    """The worker's ``tailor_requests_total`` for ``GET /pid`` answered 200."""
    for line in metrics.splitlines():
        if line.startswith("tailor_requests_total{") and 'route="/pid"' in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_the_factorys_own_listen_port_and_gc_threshold_are_served_without_flags(
    start: Start,
) -> None:
    port = _free_port()
    served = start("main_app:tuned", env={"MAIN_APP_PORT": str(port)})
    answer = _get(served, f"http://127.0.0.1:{port}/pid")
    assert (answer.status_code, answer.json()["gc_threshold"]) == (200, 123)


def test_a_port_flag_overrides_the_factorys_listen_port_and_nothing_else(start: Start) -> None:
    own, flagged = _free_port(), _free_port()
    served = start("main_app:tuned", "--port", str(flagged), env={"MAIN_APP_PORT": str(own)})
    answer = _get(served, f"http://127.0.0.1:{flagged}/pid")
    assert (answer.status_code, answer.json()["gc_threshold"]) == (200, 123)
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{own}/pid", timeout=5)


def test_two_workers_with_the_admin_listener_on_serve_and_expose_each_workers_metrics(
    start: Start,
) -> None:
    port, admin = _free_port(), _free_port_pair()
    served = start(
        "main_app:with_admin",
        *("--port", str(port), "--workers", "2"),
        env={"MAIN_APP_ADMIN_PORT": str(admin)},
    )
    _pids(served, port, 2)  # each worker has answered at least once
    scraped = [_get(served, f"http://127.0.0.1:{a}/metrics").text for a in (admin, admin + 1)]
    assert [_served_count(metrics) >= 1 for metrics in scraped] == [True, True]
    assert served.proc.poll() is None


def test_two_bffs_with_default_admin_settings_both_start_on_one_host(start: Start) -> None:
    ports = [_free_port(), _free_port()]
    servers = [
        start("main_app:with_admin", "--port", str(port), env={"MAIN_APP_NAME": f"bff-{i}"})
        for i, port in enumerate(ports)
    ]
    for served, port in zip(servers, ports, strict=True):
        assert _get(served, f"http://127.0.0.1:{port}/pid").status_code == 200
    admins = [
        int(re.findall(r"admin listener on 127\.0\.0\.1:(\d+)", served.output())[0])
        for served in servers
    ]
    assert admins[0] != admins[1]
    for served, admin in zip(servers, admins, strict=True):
        assert _get(served, f"http://127.0.0.1:{admin}/healthz").status_code == 200


def test_a_route_no_authenticator_covers_stops_startup_with_status_2_and_one_message(
    start: Start,
) -> None:
    served = start("main_app:unauthenticated", "--workers", "2", "--port", str(_free_port()))
    assert served.proc.wait(timeout=PROCESS_TIMEOUT_S) == 2
    output = served.output()
    assert output.count("route GET /v1/me requires authentication") == 1
    assert "Traceback" not in output
