"""The shed stage's cap that follows the event loop's standing lag (tailor.resilience.looplag)."""

from __future__ import annotations

from tailor.resilience.looplag import FLOOR, LagLimit


def _limit(ceiling: int = 100) -> LagLimit:
    return LagLimit(ceiling=ceiling, target_lag_s=0.01)


def test_a_full_cap_shrinks_by_a_tenth_while_the_lag_stands_over_the_target() -> None:
    limit = _limit()
    limit.adjust(0.05, full=True)
    assert limit.adjust(0.05, full=True) == 90
    assert limit.adjust(0.05, full=True) == 81


def test_one_long_pause_between_short_ones_leaves_the_cap_alone() -> None:
    limit = _limit()
    limit.adjust(0.001, full=True)
    assert limit.adjust(0.5, full=True) == 100  # a collection, a descheduled process
    assert limit.adjust(0.001, full=True) == 100


def test_a_loop_lagging_with_room_under_the_cap_keeps_the_cap() -> None:
    limit = _limit()
    for _ in range(5):
        assert limit.adjust(0.05, full=False) == 100


def test_the_cap_grows_back_to_the_ceiling_once_the_loop_catches_up() -> None:
    limit = _limit()
    for _ in range(10):
        limit.adjust(0.05, full=True)
    shrunk = limit.value
    assert limit.adjust(0.001, full=False) > shrunk
    for _ in range(100):
        limit.adjust(0.001, full=False)
    assert limit.value == 100


def test_the_cap_never_falls_below_the_floor() -> None:
    limit = _limit()
    for _ in range(200):
        limit.adjust(1.0, full=True)
    assert limit.value == FLOOR


def test_a_ceiling_below_the_floor_is_kept() -> None:
    limit = _limit(ceiling=2)
    for _ in range(10):
        limit.adjust(1.0, full=True)
    assert limit.value == 2
