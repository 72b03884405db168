"""The live tests' server: :mod:`live_app`'s BFF on tailor's HTTP/1.1 server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from live_app import Served, build

from tailor import BFF
from tailor.serve.http1 import Http1Server, settings_from


@pytest.fixture
async def make_served(tmp_path: Path) -> AsyncIterator[Any]:
    servers: list[tuple[BFF, Http1Server]] = []

    async def make(**live_settings: Any) -> Served:
        bff, live, feed = build(tmp_path, live_settings)
        bff.startup(admin=False)
        server = Http1Server(bff.respond, settings_from(bff.config, bff.admitting))
        await server.start(host="127.0.0.1", port=0)
        servers.append((bff, server))
        return Served(bff, live, feed, server)

    yield make
    for bff, server in servers:
        await server.close(grace_s=1)
        await bff.shutdown()
