"""Cache configuration: profile timings over a route's policy; mistakes name the key."""

from __future__ import annotations

import pytest
from harness import bearer, call, sign

from conftest import FeedService, build_cached_bff
from tailor import build_config
from tailor.cache import CachePolicy
from tailor.errors import ConfigError


def test_an_unknown_backend_names_the_key() -> None:
    with pytest.raises(ConfigError) as err:
        build_config({"name": "x", "cache": {"backend": "memcached"}})
    assert err.value.key == "cache.backend"


def test_a_negative_route_ttl_names_the_key() -> None:
    with pytest.raises(ConfigError) as err:
        build_config({"name": "x", "cache": {"routes": {"/home": {"ttl_s": -1}}}})
    assert err.value.key.startswith("cache.routes") and err.value.key.endswith("ttl_s")


def test_an_unknown_scope_in_a_policy_names_the_key() -> None:
    with pytest.raises(ConfigError) as err:
        CachePolicy(scope="everyone")
    assert err.value.key == "cache.scope"


async def test_timings_for_a_route_without_a_policy_stop_startup(make_bff, feed: FeedService):
    bff = build_cached_bff(make_bff, feed.upstream.url, CachePolicy(),
                           {"cache": {"routes": {"/elsewhere": {"ttl_s": 5}}}})  # fmt: skip
    with pytest.raises(ConfigError) as err:
        bff.startup(admin=False)
    assert err.value.key == "cache.routes./elsewhere"


async def test_the_profile_ttl_overrides_the_policy_default(make_bff, feed: FeedService):
    bff = build_cached_bff(make_bff, feed.upstream.url, CachePolicy(scope="user", ttl_s=1),
                           {"cache": {"routes": {"/home": {"ttl_s": 60}}}})  # fmt: skip
    response = await call(bff, path="/home", headers=bearer(sign("k1", sub="u1")))
    assert response.header("cache-control") == "private, max-age=60"
