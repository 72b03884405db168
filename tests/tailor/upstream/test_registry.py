"""The static service registry: names map to configured base URLs only."""

from __future__ import annotations

import pytest

from tailor import ConfigError
from tailor.upstream import ServiceRegistry


def test_url_joins_the_base_and_the_path() -> None:
    registry = ServiceRegistry({"users": "http://127.0.0.1:9002/"})
    assert registry.url("users", "/users/u1") == "http://127.0.0.1:9002/users/u1"


def test_unknown_upstream_name_is_not_resolved() -> None:
    with pytest.raises(KeyError):
        ServiceRegistry({"users": "http://127.0.0.1:9002"}).url("http://evil", "/x")


def test_require_names_the_first_missing_upstream() -> None:
    registry = ServiceRegistry({"users": "http://127.0.0.1:9002"})
    with pytest.raises(ConfigError) as info:
        registry.require({"users", "tracks", "catalog"})
    assert info.value.key == "upstreams.catalog"


def test_require_accepts_configured_upstreams() -> None:
    registry = ServiceRegistry({"users": "http://a", "tracks": "http://b"})
    registry.require({"users", "tracks"})
    assert registry.names == {"users", "tracks"}
    assert "users" in registry and "media" not in registry
