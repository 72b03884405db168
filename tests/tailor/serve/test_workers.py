"""tailor.serve.workers as real processes: ``python -m http1_app`` (a BFF served through
tailor.serve.run with interface http1) in one or more workers, stopped by signals.

Each server starts in its own session, so whatever is left of it (a parent and its forked
workers) is killed at teardown by its process group.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple

import pytest

from tailor import build_config
from tailor.serve.inherited import LISTEN_FDS_ENV
from tailor.serve.workers import (
    MAX_QUICK_DEATHS,
    load_bff,
    raise_open_files_limit,
    serve,
)

HERE = Path(__file__).parent
SRC = HERE.parents[2] / "src"
#: How long a test waits for a process to start, answer or stop.
PROCESS_TIMEOUT_S = 20.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Answer(NamedTuple):
    status: int
    headers: dict[str, str]
    body: bytes


class Connection:
    """A raw, blocking HTTP/1.1 connection to 127.0.0.1 (every read bounded by a timeout)."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.buffer = b""

    def close(self) -> None:
        self.sock.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def answer(self) -> Answer:
        while b"\r\n\r\n" not in self.buffer:
            self._read_some()
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        status_line, *lines = head.decode("latin-1").split("\r\n")
        headers = {
            name.lower(): value.strip()
            for name, _, value in (line.partition(":") for line in lines)
        }
        length = int(headers.get("content-length", "0"))
        while len(self.buffer) < length:
            self._read_some()
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return Answer(int(status_line.split(" ")[1]), headers, body)

    def pid(self) -> int:
        """The pid of the worker answering on this connection (which stays open)."""
        self.send(b"GET /pid HTTP/1.1\r\nhost: test\r\n\r\n")
        answer = self.answer()
        assert answer.status == 200, answer
        return int(json.loads(answer.body)["pid"])

    def closed_by_server(self) -> bytes:
        """Wait for the server to close the connection; what was left unread."""
        try:
            while self._read():
                pass
        except ConnectionResetError:
            pass
        return self.buffer

    def _read(self) -> bytes:
        data = self.sock.recv(65536)
        self.buffer += data
        return data

    def _read_some(self) -> None:
        if not self._read():
            raise ConnectionError(f"closed by the server mid-answer: {self.buffer!r}")


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), str(SRC)])}


class Served(NamedTuple):
    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    def connect(self) -> Connection:
        return Connection(self.port)


Serve = Callable[..., Served]


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Serve]:
    """Start ``python -m http1_app`` (``start(factory, workers=n, ready=True)``); everything
    it started is killed at teardown."""
    started: list[subprocess.Popen[bytes]] = []

    def start_server(
        factory: str = "http1_app:create",
        *,
        workers: int = 1,
        ready: bool = True,
        held: socket.socket | None = None,
        listen_fds: str | None = None,
    ) -> Served:
        """``held``: a listening socket handed down to it (``$TAILOR_LISTEN_FDS``), whose
        port it serves; ``listen_fds``: that variable's value as given."""
        port = _free_port() if held is None else held.getsockname()[1]
        fds = [] if held is None else [held.fileno()]
        env = _env()
        if held is not None or listen_fds is not None:
            env[LISTEN_FDS_ENV] = ",".join(map(str, fds)) if listen_fds is None else listen_fds
        log = tmp_path / f"server-{len(started)}.log"
        args = ["-m", "http1_app", "--port", str(port), "--workers", str(workers), factory]
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, *args],
                cwd=HERE,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: the workers are in it
                pass_fds=fds,
            )
        started.append(proc)
        served = Served(proc, port, log)
        if ready:
            _wait_ready(served)
        return served

    yield start_server
    for proc in started:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        else:  # the parent is gone; a worker it left behind would still be in its group
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)


def _wait_ready(served: Served) -> None:
    deadline = time.monotonic() + PROCESS_TIMEOUT_S
    while time.monotonic() < deadline:  # bounded readiness poll
        if served.proc.poll() is not None:
            raise RuntimeError(f"the server exited: {served.log.read_text()[-2000:]}")
        try:
            connection = served.connect()
        except ConnectionRefusedError:
            time.sleep(0.05)
            continue
        connection.pid()
        connection.close()
        return
    raise RuntimeError("the server did not become ready")


def _pids(served: Served, count: int) -> dict[int, Connection]:
    """Open connections until ``count`` different workers have answered; one kept-alive
    connection per worker pid (connections are spread between workers by the kernel)."""
    seen: dict[int, Connection] = {}
    deadline = time.monotonic() + PROCESS_TIMEOUT_S
    while len(seen) < count and time.monotonic() < deadline:
        connection = served.connect()
        pid = connection.pid()
        if pid in seen:
            connection.close()
        else:
            seen[pid] = connection
    assert len(seen) == count, f"answers came from {sorted(seen)} only"
    return seen


def _connection_to(served: Served, pid: int) -> Connection:
    """A new kept-alive connection to worker ``pid``."""
    deadline = time.monotonic() + PROCESS_TIMEOUT_S
    while time.monotonic() < deadline:
        connection = served.connect()
        if connection.pid() == pid:
            return connection
        connection.close()
    raise AssertionError(f"worker {pid} took no new connection")


def _new_pid(served: Served, known: set[int]) -> int:
    """Poll new connections until a worker not in ``known`` answers (a replacement starting)."""
    deadline = time.monotonic() + PROCESS_TIMEOUT_S
    while time.monotonic() < deadline:  # bounded readiness poll
        connection = served.connect()
        pid = connection.pid()
        connection.close()
        if pid not in known:
            return pid
    raise AssertionError("no new worker answered")


def test_a_port_in_use_stops_serve_with_status_1_naming_host_and_port(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        config = build_config(
            {
                "name": "busy",
                "listen": {"host": "127.0.0.1", "port": port},
                "server": {"workers": 2},
            }
        )
        status = serve(load_bff("http1_app:create", lambda _: config))
    assert status == 1
    assert f"busy: cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err


def test_two_workers_answer_from_two_processes(start: Serve) -> None:
    served = start(workers=2)
    pids = _pids(served, 2)
    assert served.proc.pid not in pids  # the parent supervises; the workers answer
    for connection in pids.values():
        connection.close()


@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_lets_the_answer_in_progress_finish_then_exits_0(
    start: Serve, workers: int
) -> None:
    served = start(workers=workers)
    [(pid, busy)] = _pids(served, 1).items()
    # Another connection to the same worker, idle: the worker closes it when it starts draining.
    idle = _connection_to(served, pid)
    # In progress: the worker asked for the body (100 Continue) and waits for it.
    busy.send(
        b"POST /echo HTTP/1.1\r\nhost: test\r\ncontent-type: text/plain\r\n"
        b"content-length: 5\r\nexpect: 100-continue\r\n\r\n"
    )
    assert busy.answer().status == 100
    served.proc.send_signal(signal.SIGTERM)
    assert idle.closed_by_server() == b""  # draining now
    busy.send(b"hello")
    answer = busy.answer()
    assert (answer.status, json.loads(answer.body)) == (200, {"pid": pid, "body": "hello"})
    assert answer.headers["connection"] == "close"
    assert served.proc.wait(timeout=PROCESS_TIMEOUT_S) == 0


def test_a_worker_killed_is_replaced(start: Serve) -> None:
    served = start(workers=2)
    pids = _pids(served, 2)
    for connection in pids.values():
        connection.close()
    victim = next(iter(pids))
    os.kill(victim, signal.SIGKILL)
    replacement = _new_pid(served, set(pids))
    assert replacement != victim and served.proc.poll() is None


def test_workers_that_keep_dying_at_startup_stop_the_server_with_status_1(
    start: Serve,
) -> None:
    served = start("http1_app:broken", workers=2, ready=False)
    assert served.proc.wait(timeout=PROCESS_TIMEOUT_S) == 1
    log = served.log.read_text()
    assert "workers keep failing at startup; stopping" in log
    assert log.count("this BFF fails at startup") >= MAX_QUICK_DEATHS


def test_workers_stop_when_their_supervisor_is_killed(start: Serve) -> None:
    served = start(workers=2)
    for connection in _pids(served, 2).values():
        connection.close()
    os.kill(served.proc.pid, signal.SIGKILL)
    served.proc.wait()
    # The workers were the last holders of the listening socket: once both have stopped, the
    # port refuses connections.
    deadline = time.monotonic() + PROCESS_TIMEOUT_S
    while time.monotonic() < deadline:  # bounded poll
        try:
            served.connect().close()
        except ConnectionRefusedError:
            return
        time.sleep(0.1)
    raise AssertionError("orphaned workers kept serving")


# Run as its own process: serve() with three workers, where the first fork is followed by a
# SIGTERM to the supervisor, while it is still starting the others.
_STOP_WHILE_STARTING = """
import os, signal, sys
from tailor import build_config
from tailor.serve import workers

fork = os.fork

def fork_then_stop():
    pid = fork()
    if pid:  # the supervisor, its stop signals blocked until this worker is recorded
        os.fork = fork
        os.kill(os.getpid(), signal.SIGTERM)
    return pid

os.fork = fork_then_stop
config = build_config(
    {"name": "race", "listen": {"host": "127.0.0.1", "port": 0}, "server": {"workers": 3}}
)
sys.exit(workers.serve(workers.load_bff("http1_app:create", lambda _: config)))
"""


def test_a_stop_while_workers_start_starts_no_more_and_exits_0() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", _STOP_WHILE_STARTING],
        cwd=HERE,
        env=_env(),
        start_new_session=True,
    )
    try:
        # Workers started after the stop would never be told to stop, nor the supervisor end.
        assert proc.wait(timeout=PROCESS_TIMEOUT_S) == 0
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def test_the_soft_open_files_limit_is_raised_to_the_hard_one() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    lowered = min(soft, 512)
    if lowered == hard:
        pytest.skip("the hard limit is already the lowest soft limit this test would set")
    resource.setrlimit(resource.RLIMIT_NOFILE, (lowered, hard))
    try:
        raise_open_files_limit()
        assert resource.getrlimit(resource.RLIMIT_NOFILE) == (hard, hard)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.fixture
def held() -> Iterator[socket.socket]:
    """A listening socket this test holds, as a supervisor holds a BFF's."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield sock


@pytest.mark.parametrize("workers", [1, 2])
def test_a_listening_socket_handed_down_is_served_instead_of_binding_its_port(
    start: Serve, held: socket.socket, workers: int
) -> None:
    # Binding the port would fail: the test's socket listens on it.
    served = start(held=held, workers=workers)
    connection = served.connect()
    assert connection.pid() != os.getpid()
    connection.close()


def test_a_connection_queued_while_no_server_accepts_is_answered_by_the_next_server(
    start: Serve, held: socket.socket
) -> None:
    first = start(held=held)
    first.proc.send_signal(signal.SIGTERM)
    assert first.proc.wait(timeout=PROCESS_TIMEOUT_S) == 0
    waiting = first.connect()  # nobody accepts: it waits in the held socket's queue
    waiting.sock.settimeout(PROCESS_TIMEOUT_S)  # the next server starts meanwhile
    waiting.send(b"GET /pid HTTP/1.1\r\nhost: test\r\n\r\n")
    second = start(held=held, ready=False)
    answer = waiting.answer()
    assert (answer.status, json.loads(answer.body)["pid"]) == (200, second.proc.pid)
    waiting.close()


def test_a_handed_down_descriptor_that_is_no_socket_stops_startup_naming_the_variable(
    start: Serve,
) -> None:
    served = start(listen_fds="not-a-descriptor", ready=False)
    assert served.proc.wait(timeout=PROCESS_TIMEOUT_S) == 2
    assert f"invalid config at '{LISTEN_FDS_ENV}'" in served.log.read_text()
