"""One real platform (services only, ephemeral loopback ports) shared by the session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from waveform.supervisor import Platform

SCALE = 2000


@pytest.fixture(scope="session")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    data_dir: Path = tmp_path_factory.mktemp("waveform-services")
    with Platform(data_dir, ephemeral=True, scale=SCALE, components="services") as p:
        assert not p.failures, [f.describe() for f in p.failures.values()]
        yield p


@pytest.fixture(scope="session")
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as client:
        yield client
