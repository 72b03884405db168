"""Fixtures shared by the whole suite."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from waveform.redis_server import RedisServer

# Playwright on Debian's chromium for the browser suites (tests/browser.py).
pytest_plugins = ["browser"]


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A real redis-server on an ephemeral loopback port for the whole session. Tests that
    take it down must start it again (``redis_server.start()``) before they end."""
    with RedisServer(data_dir=tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    return redis_server.url
