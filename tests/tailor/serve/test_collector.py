"""The worker's collector settings take effect, and are restored after each test."""

from __future__ import annotations

import asyncio
import gc
import os
import weakref
from collections.abc import Iterator

import pytest

from tailor.config import Server
from tailor.serve.collector import collect, collect_every, tune_collector


@pytest.fixture(autouse=True)
def restore_collector() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def test_the_young_generation_threshold_is_set() -> None:
    tune_collector(Server(gc_freeze=False, gc_threshold=5000))
    assert gc.get_threshold()[0] == 5000


def test_what_exists_at_startup_is_frozen_out_of_collections() -> None:
    startup_object = {"built": "at startup"}
    tune_collector(Server(gc_freeze=True))
    assert gc.get_freeze_count() > 0
    assert not any(o is startup_object for o in gc.get_objects())


def test_nothing_is_frozen_when_switched_off() -> None:
    gc.unfreeze()
    tune_collector(Server(gc_freeze=False))
    assert gc.get_freeze_count() == 0


def test_a_threshold_out_of_range_is_a_config_error() -> None:
    from tailor.config import load_config
    from tailor.errors import ConfigError

    with pytest.raises(ConfigError, match="server"):
        load_config(None, {"name": "x", "server": {"gc_threshold": 5}})


class _Node:
    """An object that will be part of a reference cycle."""

    other: _Node


async def test_a_cycle_is_freed_by_the_periodic_collection_though_no_generation_fills() -> None:
    gc.collect()
    gc.set_threshold(1_000_000, 10, 10)  # the young generation never fills here
    freed = asyncio.Event()
    node = _Node()
    node.other = node
    weakref.finalize(node, freed.set)
    del node
    assert not freed.is_set()  # reference counting cannot free a cycle
    collecting = asyncio.create_task(collect_every(0.01))
    try:
        async with asyncio.timeout(5):
            await freed.wait()
    finally:
        collecting.cancel()


def test_a_negative_collection_interval_is_a_config_error_naming_the_key() -> None:
    from tailor.config import load_config
    from tailor.errors import ConfigError

    with pytest.raises(ConfigError, match=r"server\.gc_interval_s"):
        load_config(None, {"name": "x", "server": {"gc_interval_s": -1}})


def _resident_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="reads /proc")
def test_a_collection_gives_the_pages_a_burst_freed_back_to_the_system() -> None:
    # 30,000 buffers of 3-5 KB (malloc's, not Python's small-object allocator), every 50th kept:
    # the free pages lie between pages still in use, where freeing alone does not return them.
    burst = [bytes(3000 + n % 2000) for n in range(30_000)]
    kept, before = burst[::50], _resident_mb()
    del burst
    freed_only = _resident_mb()
    collect()
    after = _resident_mb()
    assert freed_only > before - 20  # freeing gave (nearly) nothing back by itself
    assert after < before - 60, (before, freed_only, after)
    assert len(kept) == 600
