"""Fixtures shared by the tailor suite: scripted upstreams and BFFs that are shut down after
each test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from upstreams import ScriptedUpstream

from tailor import BFF, build_config
from tailor.config import deep_merge
from tailor.upstream.transport import Transport


@pytest.fixture
async def scripted() -> AsyncIterator[Callable[[], Awaitable[ScriptedUpstream]]]:
    """A factory of scripted upstreams, all closed at teardown."""
    started: list[ScriptedUpstream] = []

    async def start() -> ScriptedUpstream:
        up = await ScriptedUpstream.start()
        started.append(up)
        return up

    yield start
    for up in started:
        await up.close()


@pytest.fixture
async def upstream(
    scripted: Callable[[], Awaitable[ScriptedUpstream]],
) -> ScriptedUpstream:
    return await scripted()


MakeBFF = Callable[..., BFF]


@pytest.fixture
async def make_bff() -> AsyncIterator[MakeBFF]:
    """Build a BFF from a config dict (merged over a minimal test profile: admin on port 0,
    no auth). Routes are added by the test; everything built is shut down at teardown."""
    made: list[BFF] = []

    def make(config: dict[str, Any] | None = None, *, transport: Transport | None = None) -> BFF:
        base = {"name": "test", "admin": {"port": 0}}
        bff = BFF(build_config(deep_merge(base, config or {})), transport=transport)
        made.append(bff)
        return bff

    yield make
    for bff in made:
        await bff.shutdown()
