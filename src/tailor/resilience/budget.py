"""The retry budget: retries to one upstream are at most a fraction of its calls.

Per-call attempt limits alone multiply load during an outage (3 attempts per call is 3x the
traffic on a service that is already down). A budget over a rolling window bounds the total:
with the default 20%, an outage costs at most 1.2 attempts per call, whatever the per-call
limit. Hedged attempts draw on the same budget.
"""

from __future__ import annotations

import time

from tailor.resilience.window import Clock, RollingCounts

_CALLS, _RETRIES = 0, 1


class RetryBudget:
    """
    >>> budget = RetryBudget(ratio=0.2, min_retries=0, window_s=10)
    >>> for _ in range(10): budget.record_call()
    >>> budget.try_spend(), budget.try_spend(), budget.try_spend()
    (True, True, False)
    """

    __slots__ = ("_counts", "_min", "_ratio")

    def __init__(
        self, *, ratio: float, min_retries: int, window_s: float, clock: Clock = time.monotonic
    ) -> None:
        self._ratio = ratio
        self._min = min_retries
        self._counts = RollingCounts(window_s, fields=2, clock=clock)

    def record_call(self) -> None:
        """One call (not an attempt) to this upstream."""
        self._counts.add(_CALLS)

    def try_spend(self) -> bool:
        """Take one retry (or hedge) from the budget; False when it is spent. The minimum is
        a floor, not an addition: once calls are many, only the ratio counts."""
        allowed = max(self._min, int(self._ratio * self._counts.total(_CALLS)))
        if self._counts.total(_RETRIES) >= allowed:
            return False
        self._counts.add(_RETRIES)
        return True
