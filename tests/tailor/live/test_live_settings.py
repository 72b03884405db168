"""The live settings stop startup naming the key they break."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from live_app import build

from tailor import ConfigError
from tailor.config import build_config
from tailor.live.settings import LiveSettings


def _start(tmp_path: Path, live: dict[str, Any]) -> None:
    bff, _, _ = build(tmp_path, live)
    bff.startup(admin=False)


def test_a_send_buffer_over_64_kib_stops_startup_naming_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"stages\.live\.send_buffer_bytes"):
        _start(tmp_path, {"send_buffer_bytes": 65537})


def test_an_unknown_key_stops_startup(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"stages\.live"):
        _start(tmp_path, {"max_connections": 5})


def test_a_reconnect_range_upside_down_stops_startup(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"reconnect_max_ms"):
        _start(tmp_path, {"reconnect_min_ms": 5000, "reconnect_max_ms": 100})


def test_a_worker_cap_over_the_servers_connection_cap_is_refused() -> None:
    config = build_config({"name": "t", "server": {"max_connections": 100}})
    with pytest.raises(ConfigError, match=r"stages\.live\.max_per_worker"):
        LiveSettings(max_per_worker=101).check(config)


def test_http2_on_the_same_port_is_refused() -> None:
    config = build_config({"name": "t", "server": {"http2": True}})
    with pytest.raises(ConfigError, match=r"server\.http2"):
        LiveSettings().check(config)


def test_a_server_other_than_tailors_is_refused() -> None:
    config = build_config({"name": "t", "server": {"interface": "rsgi"}})
    with pytest.raises(ConfigError, match=r"server\.interface"):
        LiveSettings().check(config)
