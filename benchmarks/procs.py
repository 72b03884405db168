"""Every process a run starts, each in its own process group, all stopped at the end."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType


def _die_with_parent() -> None:
    """In the child: SIGTERM when the runner dies, even by SIGKILL (Linux)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def group_rss_kb(pgid: int) -> dict[int, int]:
    """pid -> VmRSS in KiB of every live process in process group ``pgid`` (Linux /proc)."""
    found: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
            if int(text[text.rindex(")") + 2 :].split()[2]) != pgid:
                continue
            status = (stat.parent / "status").read_text()
        except (OSError, ValueError):
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                found[int(stat.parent.name)] = int(line.split()[1])
    return found


class Processes:
    """A context manager; ``start`` spawns, leaving the block stops everything started."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.started: dict[str, subprocess.Popen[bytes]] = {}

    def start(
        self,
        name: str,
        argv: Sequence[str],
        *,
        cpu: int | str | None = None,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> subprocess.Popen[bytes]:
        full = ["taskset", "-c", str(cpu), *argv] if cpu is not None else list(argv)
        log = open(self.logs / f"{name}.log", "wb")  # noqa: SIM115 (closed with the process)
        proc = subprocess.Popen(
            full,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            cwd=cwd,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        log.close()
        self.started[name] = proc
        return proc

    def rss_kb(self, name: str) -> dict[int, int]:
        """Resident set size (KiB) of every live process in ``name``'s process group."""
        return group_rss_kb(self.started[name].pid)

    def log_tail(self, name: str, lines: int = 60) -> str:
        try:
            text = (self.logs / f"{name}.log").read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(f"    | {line}" for line in text.splitlines()[-lines:])

    def wait_http(
        self, name: str, url: str, timeout: float = 30.0, *, require_ok: bool = False
    ) -> None:
        """Until ``url`` answers (any status, or 200 with ``require_ok``), or fail naming the
        process and its log."""
        proc = self.started[name]
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}:\n{self.log_tail(name)}")
            try:
                with urllib.request.urlopen(url, timeout=1):
                    return
            except urllib.error.HTTPError as exc:
                if require_ok:
                    raise RuntimeError(
                        f"{name} answered {exc.code} to {url}:\n{self.log_tail(name)}"
                    ) from exc
                return
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)
        raise RuntimeError(f"{name} did not answer {url} in {timeout} s:\n{self.log_tail(name)}")

    def stop(self, name: str, grace: float = 5.0) -> None:
        proc = self.started.pop(name, None)
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)  # anything left in the group

    def stop_all(self) -> None:
        for name in reversed(list(self.started)):
            self.stop(name)

    def __enter__(self) -> Processes:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop_all()
