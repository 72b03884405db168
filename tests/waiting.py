"""Bounded polling, for what another process offers no event to wait on: its port answering,
a line in its log, a count on its admin port."""

from __future__ import annotations

import ssl
import subprocess
import time
from collections.abc import Callable
from typing import TypeVar

import httpx

T = TypeVar("T")


def until(probe: Callable[[], T], within_s: float, what: str, *, pause_s: float = 0.05) -> T:
    """The first truthy answer of ``probe``, asked every ``pause_s``; the test fails naming
    ``what`` if none comes within ``within_s``."""
    end = time.monotonic() + within_s
    while not (answer := probe()):
        assert time.monotonic() < end, f"{what} within {within_s} s"
        time.sleep(pause_s)
    return answer


def serving(
    url: str,
    within_s: float,
    *,
    process: subprocess.Popen[bytes] | None = None,
    verify: ssl.SSLContext | bool = True,
) -> None:
    """Until ``url`` answers 200; a ``process`` that exits meanwhile fails the test."""

    def answers() -> bool:
        assert process is None or process.poll() is None, f"the process behind {url} exited"
        try:
            return httpx.get(url, verify=verify, timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    until(answers, within_s, f"{url} answering 200")
