"""Fixtures of the fault-injection suite: a world of scripted services behind fault proxies
and a BFF serving the mobile home plan over them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from faultworld import World, start_world

MakeWorld = Callable[..., Awaitable[World]]


@pytest.fixture
async def make_world() -> AsyncIterator[MakeWorld]:
    """Start a world (``resilience`` overrides merged over the mobile profile's), learn its
    healthy baseline, and close everything at teardown."""
    made: list[World] = []

    async def make(resilience: dict[str, Any] | None = None) -> World:
        world = await start_world(resilience)
        made.append(world)
        await world.learn_baseline()
        return world

    yield make
    for world in made:
        await world.close()
