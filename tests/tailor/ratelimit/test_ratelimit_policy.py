"""Compiled policies: each caller's quota is kept (bounded, and never stale when the
caller's tier changes)."""

from __future__ import annotations

from tailor.config import RatePolicy
from tailor.ratelimit.policy import QUOTA_CACHE_SIZE, CompiledPolicy


def app_policy() -> CompiledPolicy:
    return CompiledPolicy.of("app", RatePolicy("app", 1, tiers={"gold": 3}), "tailor:rl")


def test_a_callers_quota_is_built_once_and_kept() -> None:
    policy = app_policy()
    first = policy.quota("ios", "gold")
    assert policy.quota("ios", "gold") is first
    assert (first.key, first.limit, first.window_s) == ("tailor:rl:app:ios", 3, 60)


def test_a_kept_quota_follows_the_callers_current_tier() -> None:
    policy = app_policy()
    assert policy.quota("ios", "gold").limit == 3
    assert policy.quota("ios", "free").limit == 1  # downgraded: the default limit
    assert policy.quota("ios", "gold").limit == 3
    assert policy.cached_quotas() == 1  # one caller, one entry: the key is the same


def test_the_quota_cache_stays_bounded_however_many_callers_come() -> None:
    policy = app_policy()
    for i in range(3 * QUOTA_CACHE_SIZE):
        policy.quota(f"app-{i}", "default")
        assert policy.cached_quotas() <= QUOTA_CACHE_SIZE
    assert policy.quota("latest", "default").key == "tailor:rl:app:latest"
