"""The retry budget, driven by counts, and the circuit breaker, on a controlled clock."""

from __future__ import annotations

import pytest

from tailor.resilience.breaker import BreakerState, CircuitBreaker
from tailor.resilience.budget import RetryBudget
from tailor.resilience.errors import CircuitOpen
from tailor.resilience.settings import BreakerSettings


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _outage_second(budget: RetryBudget, calls: int, max_attempts: int = 3) -> int:
    """``calls`` calls that all fail, each retried while the budget allows; the attempts."""
    attempts = 0
    for _ in range(calls):
        budget.record_call()
        tries = 1
        while tries < max_attempts and budget.try_spend():
            tries += 1
        attempts += tries
    return attempts


def test_retry_budget_allows_retries_of_at_most_the_ratio_of_calls_made_alongside() -> None:
    budget = RetryBudget(ratio=0.2, burst=1)
    retried = 0
    for _ in range(100):
        budget.record_call()
        retried += budget.try_spend()
    assert retried == 20


def test_retry_budget_saves_up_no_more_than_its_burst_from_healthy_calls() -> None:
    budget = RetryBudget(ratio=0.2, burst=2)
    for _ in range(10_000):  # healthy traffic: calls and no retries
        budget.record_call()
    assert [budget.try_spend() for _ in range(3)] == [True, True, False]


def test_every_second_of_an_outage_after_healthy_traffic_costs_at_most_1_2_attempts_per_call() -> (
    None
):
    budget = RetryBudget(ratio=0.2, burst=1)
    for _ in range(10 * 100):  # 10 s of healthy traffic at 100 calls a second
        budget.record_call()
    per_second = [_outage_second(budget, 100) for _ in range(5)]
    assert per_second[0] <= 1.2 * 100  # the reserve stands in for the first call's share
    assert all(attempts <= 1.2 * 100 + 1 for attempts in per_second)


def test_retry_budget_lets_a_quiet_upstream_retry_its_first_failure() -> None:
    budget = RetryBudget(ratio=0.2, burst=1)
    budget.record_call()
    assert [budget.try_spend() for _ in range(2)] == [True, False]


def test_retry_budget_with_a_zero_ratio_allows_no_retry() -> None:
    budget = RetryBudget(ratio=0.0, burst=3)
    for _ in range(100):
        budget.record_call()
    assert not budget.try_spend()


def _breaker(clock: Clock, **settings: object) -> CircuitBreaker:
    base = {"min_calls": 4, "failure_rate": 0.5, "window_s": 10.0, "cool_down_s": 5.0}
    return CircuitBreaker("svc", BreakerSettings(**{**base, **settings}), clock=clock)  # type: ignore[arg-type]


def _call(breaker: CircuitBreaker, ok: bool) -> None:
    breaker.record(breaker.admit(), ok=ok)


def test_breaker_stays_closed_below_the_minimum_number_of_calls() -> None:
    breaker = _breaker(Clock())
    for _ in range(3):
        _call(breaker, ok=False)
    assert breaker.state is BreakerState.CLOSED


def test_breaker_opens_at_the_failure_rate_over_the_minimum_calls() -> None:
    breaker = _breaker(Clock())
    for ok in (True, True, False, False):
        _call(breaker, ok=ok)
    assert breaker.state is BreakerState.OPEN


def test_breaker_stays_closed_under_the_failure_rate() -> None:
    breaker = _breaker(Clock())
    for ok in (True, True, True, False, True, True, True, False):
        _call(breaker, ok=ok)
    assert breaker.state is BreakerState.CLOSED


def test_open_breaker_fails_fast_with_the_time_left_of_its_cool_down() -> None:
    clock = Clock()
    breaker = _breaker(clock, min_calls=1)
    _call(breaker, ok=False)
    clock.now += 2
    with pytest.raises(CircuitOpen) as info:
        breaker.admit()
    assert info.value.retry_after_s == pytest.approx(3.0)


def test_after_the_cool_down_one_probe_passes_and_others_still_fail_fast() -> None:
    clock = Clock()
    breaker = _breaker(clock, min_calls=1)
    _call(breaker, ok=False)
    clock.now += 5
    assert breaker.admit() is True
    assert breaker.state is BreakerState.HALF_OPEN
    with pytest.raises(CircuitOpen):
        breaker.admit()


def test_a_successful_probe_closes_the_breaker() -> None:
    clock = Clock()
    breaker = _breaker(clock, min_calls=1)
    _call(breaker, ok=False)
    clock.now += 5
    breaker.record(breaker.admit(), ok=True)
    assert breaker.state is BreakerState.CLOSED
    assert breaker.admit() is False


def test_a_failed_probe_opens_the_breaker_for_another_cool_down() -> None:
    clock = Clock()
    breaker = _breaker(clock, min_calls=1)
    _call(breaker, ok=False)
    clock.now += 5
    breaker.record(breaker.admit(), ok=False)
    assert breaker.state is BreakerState.OPEN
    assert breaker.retry_after() == pytest.approx(5.0)


def test_a_cancelled_probe_frees_its_place() -> None:
    clock = Clock()
    breaker = _breaker(clock, min_calls=1)
    _call(breaker, ok=False)
    clock.now += 5
    breaker.release(breaker.admit())
    assert breaker.admit() is True


def test_breaker_opens_at_a_run_of_failures_while_the_window_holds_mostly_successes() -> None:
    clock = Clock()
    breaker = CircuitBreaker("svc", BreakerSettings(), clock=clock)  # the defaults: 10 s, 5
    for _ in range(10 * 100):  # 10 s of healthy traffic at 100 calls a second
        _call(breaker, ok=True)
        clock.now += 0.01
    outage_began = clock.now
    while breaker.state is BreakerState.CLOSED:
        assert clock.now - outage_began < 1.0, "not open within a second of the outage"
        _call(breaker, ok=False)
        clock.now += 0.01
    assert round((clock.now - outage_began) / 0.01) == 5  # five failures in a row


def test_a_success_ends_the_run_of_failures() -> None:
    breaker = _breaker(Clock(), min_calls=100, consecutive_failures=3)
    for ok in (False, False, True, False, False):
        _call(breaker, ok=ok)
    assert breaker.state is BreakerState.CLOSED
    _call(breaker, ok=False)
    assert breaker.state is BreakerState.OPEN


def test_a_zero_consecutive_failures_leaves_only_the_failure_rate_to_open_it() -> None:
    breaker = _breaker(Clock(), min_calls=100, consecutive_failures=0)
    for _ in range(99):
        _call(breaker, ok=False)
    assert breaker.state is BreakerState.CLOSED
    _call(breaker, ok=False)
    assert breaker.state is BreakerState.OPEN


def test_disabled_breaker_never_opens() -> None:
    breaker = _breaker(Clock(), min_calls=1, enabled=False)
    for _ in range(10):
        _call(breaker, ok=False)
    assert breaker.state is BreakerState.CLOSED
