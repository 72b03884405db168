"""Platforms of a test module's own: started with every component healthy; one more
process of a running platform's BFF, for tests that need a second instance or one whose
upstreams are changed (a gate in front of a service); and what a BFF's admin port counts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tailor.dashboard.scrape import parse_samples
from waiting import serving
from waveform.ports import free_ports
from waveform.supervisor import Platform

#: How long a BFF process may take to answer its health check, and to stop.
START_S = 20.0
STOP_S = 5.0


@contextmanager
def started(
    tmp_path_factory: pytest.TempPathFactory, name: str, **options: Any
) -> Iterator[Platform]:
    """A platform on ephemeral ports in a fresh folder named after ``name``, with ``options``
    (:class:`~waveform.supervisor.Platform`'s); a component that failed to start fails the
    test, named."""
    with Platform(tmp_path_factory.mktemp(name), ephemeral=True, **options) as platform:
        assert not platform.failures, [f.describe() for f in platform.failures.values()]
        yield platform


@dataclass(frozen=True)
class BffProcess:
    """Where to call the extra process, and its admin listener (metrics, health)."""

    url: str
    admin_url: str


@contextmanager
def another_bff(
    platform: Platform, name: str, *, upstreams: Mapping[str, str] | None = None
) -> Iterator[BffProcess]:
    """The platform's BFF ``name`` again, in a process of its own: the same config (same
    Redis, same credentials) on other ports, with ``upstreams`` replacing some addresses.

    Yields once it answers its health check; stopped (SIGTERM, then SIGKILL) on exit."""
    port, admin = free_ports(2)
    config = platform.bff_config(name)
    config["listen"] = {**config["listen"], "port": port}  # type: ignore[dict-item]
    config["admin"] = {**config["admin"], "port": admin}  # type: ignore[dict-item]
    config["upstreams"] = {**config["upstreams"], **(upstreams or {})}  # type: ignore[dict-item]
    path = platform.data_dir / f"bff-{name}-{port}.json"
    path.write_text(json.dumps(config))
    process = subprocess.Popen(
        [sys.executable, "-m", f"waveform.bffs.{name}", "--config", str(path)],
        env={**os.environ, **platform.components[name].env},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        admin_url = f"http://127.0.0.1:{admin}"
        serving(f"{admin_url}/healthz", START_S, process=process)
        yield BffProcess(f"http://127.0.0.1:{port}", admin_url)
    finally:
        process.terminate()
        try:
            process.wait(STOP_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def metric(admin_url: str, name: str, **labels: str) -> float:
    """The sum of the samples of ``name`` whose labels include ``labels``, on the admin port
    at ``admin_url`` (0 when there are none)."""
    samples = parse_samples(httpx.get(f"{admin_url}/metrics", timeout=10).text).get(name, {})
    return sum(value for key, value in samples.items() if labels.items() <= dict(key).items())
