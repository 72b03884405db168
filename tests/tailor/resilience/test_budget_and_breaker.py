"""The retry budget and the circuit breaker, on a controlled clock."""

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


def test_retry_budget_allows_at_most_the_ratio_of_calls_once_calls_are_many() -> None:
    budget = RetryBudget(ratio=0.2, min_retries=3, window_s=10, clock=Clock())
    for _ in range(100):
        budget.record_call()
    spent = sum(budget.try_spend() for _ in range(100))
    assert spent == 20


def test_retry_budget_minimum_lets_a_quiet_upstream_retry() -> None:
    budget = RetryBudget(ratio=0.2, min_retries=3, window_s=10, clock=Clock())
    budget.record_call()
    assert [budget.try_spend() for _ in range(4)] == [True, True, True, False]


def test_retry_budget_forgets_calls_and_retries_older_than_its_window() -> None:
    clock = Clock()
    budget = RetryBudget(ratio=0.5, min_retries=0, window_s=10, clock=clock)
    budget.record_call()
    budget.record_call()
    assert budget.try_spend()
    assert not budget.try_spend()
    clock.now += 11
    assert not budget.try_spend()  # no calls in the window: nothing to retry against
    budget.record_call()
    budget.record_call()
    assert budget.try_spend()


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


def test_disabled_breaker_never_opens() -> None:
    breaker = _breaker(Clock(), min_calls=1, enabled=False)
    for _ in range(10):
        _call(breaker, ok=False)
    assert breaker.state is BreakerState.CLOSED
