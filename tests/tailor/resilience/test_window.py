"""Rolling counts over a time window, on a controlled clock."""

from __future__ import annotations

from tailor.resilience.window import RollingCounts


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_adds_in_successive_buckets_all_count_within_the_window() -> None:
    clock = Clock()
    counts = RollingCounts(10.0, fields=1, clock=clock)
    for step in range(5):
        clock.now = 1000.0 + step + 0.5  # one add in each of five 1 s buckets
        counts.add(0)
    assert counts.total(0) == 5


def test_a_bucket_a_whole_window_old_is_recycled_not_added_to() -> None:
    clock = Clock()
    counts = RollingCounts(10.0, fields=1, clock=clock)
    counts.add(0, 5)
    clock.now += 10.0  # the same slot comes round again
    counts.add(0)
    assert counts.total(0) == 1


def test_adds_after_clear_start_from_zero_in_the_same_bucket() -> None:
    clock = Clock()
    counts = RollingCounts(10.0, fields=2, clock=clock)
    counts.add(0, 3)
    counts.add(1, 2)
    counts.clear()
    counts.add(0)
    assert (counts.total(0), counts.total(1)) == (1, 0)


def test_counts_older_than_the_window_are_forgotten() -> None:
    clock = Clock()
    counts = RollingCounts(10.0, fields=1, clock=clock)
    counts.add(0, 4)
    clock.now += 5.0
    counts.add(0)
    clock.now += 6.0  # the first add is now 11 s old, the second 6 s
    assert counts.total(0) == 1
