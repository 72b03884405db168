"""The resilience config section: per-upstream overrides merged over the default, errors
naming the key."""

from __future__ import annotations

import pytest

from tailor import ConfigError, build_config
from tailor.resilience.runtime import Resilience


def _config(resilience: dict[str, object]) -> object:
    return build_config(
        {"name": "t", "upstreams": {"users": "http://127.0.0.1:1"}, "resilience": resilience}
    )


def test_an_upstream_override_changes_only_the_keys_it_names() -> None:
    config = _config(
        {
            "default": {"breaker": {"cool_down_s": 7.0, "min_calls": 30}},
            "upstreams": {"users": {"breaker": {"min_calls": 5}, "hedge_after_s": 0.05}},
        }
    )
    policy = config.resilience.policy_for("users")  # type: ignore[attr-defined]
    assert policy.breaker.min_calls == 5
    assert policy.breaker.cool_down_s == 7.0  # from the default, not the struct's
    assert policy.hedge_after_s == 0.05


def test_an_upstream_without_override_gets_the_default() -> None:
    config = _config({"default": {"retry": {"max_attempts": 2}}})
    assert config.resilience.policy_for("users").retry.max_attempts == 2  # type: ignore[attr-defined]


def test_more_than_three_attempts_is_refused_naming_the_key() -> None:
    with pytest.raises(ConfigError) as info:
        _config({"default": {"retry": {"max_attempts": 5}}})
    assert info.value.key == "resilience.default.retry.max_attempts"


def test_a_bad_override_is_refused_naming_the_upstream_and_key() -> None:
    with pytest.raises(ConfigError) as info:
        _config({"upstreams": {"users": {"breaker": {"failure_rate": 2}}}})
    assert info.value.key == "resilience.upstreams.users.breaker.failure_rate"


def test_an_unknown_key_in_an_override_is_refused_naming_it() -> None:
    with pytest.raises(ConfigError) as info:
        _config({"upstreams": {"users": {"retries": 2}}})
    assert info.value.key == "resilience.upstreams.users.retries"


def test_an_override_for_an_unconfigured_upstream_stops_startup() -> None:
    config = _config({"upstreams": {"nope": {"hedge_after_s": 0.1}}})
    with pytest.raises(ConfigError) as info:
        Resilience(config.resilience, ["users"])  # type: ignore[attr-defined]
    assert info.value.key == "resilience.upstreams.nope"


def test_failure_statuses_take_codes_and_ranges() -> None:
    config = _config({"default": {"failure_statuses": [500, "502-504"]}})
    resilience = Resilience(config.resilience, ["users"])  # type: ignore[attr-defined]
    assert resilience.guards("users").failing == {500, 502, 503, 504}


def test_a_backwards_status_range_is_refused_naming_the_key() -> None:
    with pytest.raises(ConfigError) as info:
        _config({"default": {"failure_statuses": ["599-500"]}})
    assert info.value.key == "resilience.default.failure_statuses"


def test_a_retried_status_the_breaker_would_not_count_is_refused_naming_the_key() -> None:
    with pytest.raises(ConfigError) as info:
        _config({"upstreams": {"users": {"failure_statuses": [503]}}})
    assert info.value.key == "resilience.upstreams.users.failure_statuses"
