"""The worker's collector settings take effect, and are restored after each test."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from tailor.config import Server
from tailor.serve.collector import tune_collector


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
