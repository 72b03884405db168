"""GCRA arithmetic and the in-memory backend: exact burst, refill, all-or-nothing charging,
bounded memory."""

from __future__ import annotations

import pytest

from tailor.ratelimit import MemoryRateLimiter, Quota
from tailor.ratelimit.gcra import judge


class Clock:
    """A hand-moved clock in microseconds."""

    def __init__(self) -> None:
        self.now = 1_000_000_000

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += int(seconds * 1_000_000)


async def test_a_fresh_key_allows_exactly_the_limit_at_once() -> None:
    backend = MemoryRateLimiter(clock=Clock())
    quota = Quota("k", 1000, 86_400)
    allowed = [(await backend.acquire([quota])).allowed for _ in range(1500)]
    assert allowed.count(True) == 1000
    assert allowed[:1000] == [True] * 1000


async def test_a_limit_that_does_not_divide_the_window_still_allows_the_whole_burst() -> None:
    backend = MemoryRateLimiter(clock=Clock())
    quota = Quota("k", 7, 60)  # 60 s / 7 is not a whole number of microseconds
    allowed = [(await backend.acquire([quota])).allowed for _ in range(8)]
    assert allowed == [True] * 7 + [False]


async def test_one_request_is_refilled_per_interval() -> None:
    clock = Clock()
    backend = MemoryRateLimiter(clock=clock)
    quota = Quota("k", 2, 10)  # one every 5 s
    assert (await backend.acquire([quota])).allowed
    assert (await backend.acquire([quota])).allowed
    refused = await backend.acquire([quota])
    assert not refused.allowed and refused.retry_after_s == 5.0
    clock.advance(5)
    assert (await backend.acquire([quota])).allowed
    assert not (await backend.acquire([quota])).allowed


async def test_remaining_counts_down_and_reset_is_the_time_to_a_whole_quota() -> None:
    backend = MemoryRateLimiter(clock=Clock())
    quota = Quota("k", 3, 30)
    usages = [(await backend.acquire([quota])).usages[0] for _ in range(3)]
    assert [u.remaining for u in usages] == [2, 1, 0]
    assert [u.reset_s for u in usages] == [10.0, 20.0, 30.0]


async def test_a_request_refused_by_one_quota_charges_none_of_the_others() -> None:
    backend = MemoryRateLimiter(clock=Clock())
    tight, loose = Quota("tight", 1, 60), Quota("loose", 10, 60)
    assert (await backend.acquire([tight, loose])).allowed
    refused = await backend.acquire([tight, loose])
    assert not refused.allowed
    assert refused.usages[0].refused and not refused.usages[1].refused
    assert refused.usages[1].remaining == 9  # the refused request took nothing from it
    assert (await backend.acquire([loose])).usages[0].remaining == 8


def test_judge_reports_the_longest_wait_among_refused_quotas() -> None:
    a, b = Quota("a", 1, 10), Quota("b", 1, 60)
    verdict = judge([a, b], [10_000_000, 60_000_000])
    assert not verdict.allowed
    assert verdict.retry_after_s == 60.0


def test_judge_wants_one_held_value_per_quota() -> None:
    with pytest.raises(ValueError):
        judge([Quota("a", 1, 10), Quota("b", 1, 10)], [0])


async def test_memory_stays_within_max_keys_charging_several_quotas_at_once() -> None:
    backend = MemoryRateLimiter(max_keys=100, clock=Clock())
    for i in range(1000):
        await backend.acquire([Quota(f"ip:{i}", 5, 60), Quota(f"user:{i}", 5, 60)])
    assert len(backend) <= 100


async def test_memory_stays_within_max_keys() -> None:
    clock = Clock()
    backend = MemoryRateLimiter(max_keys=100, clock=clock)
    for i in range(1000):
        await backend.acquire([Quota(f"ip:{i}", 5, 60)])
    assert len(backend) <= 100
