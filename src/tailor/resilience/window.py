"""Counts over a rolling time window, in fixed buckets (cheap: no per-event timestamps)."""

from __future__ import annotations

import time
from collections.abc import Callable

Clock = Callable[[], float]


class RollingCounts:
    """``fields`` counters summed over the last ``window_s`` seconds, in ``buckets`` slices.

    >>> now = [0.0]
    >>> counts = RollingCounts(10.0, fields=2, clock=lambda: now[0])
    >>> counts.add(0); counts.add(1, 3)
    >>> counts.total(0), counts.total(1)
    (1, 3)
    >>> now[0] = 11.0
    >>> counts.total(1)
    0
    """

    __slots__ = (
        "_clock",
        "_counts",
        "_current",
        "_fields",
        "_n",
        "_slot_ends",
        "_slot_starts",
        "_stamps",
        "_width",
    )

    def __init__(
        self, window_s: float, *, fields: int, buckets: int = 10, clock: Clock = time.monotonic
    ) -> None:
        self._width = window_s / buckets
        self._n = buckets
        self._fields = fields
        self._clock = clock
        self._counts = [[0] * fields for _ in range(buckets)]
        self._stamps = [-1] * buckets  # which absolute bucket each slot currently holds
        # The bucket adds go to, and when it began and ends: every call to add() within it
        # (nearly all of them: a bucket lasts window_s / buckets) is one comparison and one
        # increment, which matters at several adds per inward call.
        self._current = self._counts[0]
        self._slot_starts = 0.0
        self._slot_ends = -1.0  # the first add() finds its bucket

    def add(self, field: int, amount: int = 1) -> None:
        now = self._clock()
        if not self._slot_starts <= now < self._slot_ends:
            self._enter(now)
        self._current[field] += amount

    def _enter(self, now: float) -> None:
        """Make the bucket ``now`` falls in the current one."""
        index = int(now / self._width)
        slot = index % self._n
        if self._stamps[slot] != index:  # the slot holds an expired bucket: recycle it
            self._stamps[slot] = index
            self._counts[slot] = [0] * self._fields
        self._current = self._counts[slot]
        self._slot_starts = index * self._width
        self._slot_ends = (index + 1) * self._width

    def total(self, field: int) -> int:
        index = int(self._clock() / self._width)
        return sum(
            counts[field]
            for counts, stamp in zip(self._counts, self._stamps, strict=True)
            if 0 <= index - stamp < self._n
        )

    def clear(self) -> None:
        self._stamps = [-1] * self._n
        self._slot_ends = -1.0  # the next add() starts a fresh bucket
