"""The retry budget: retries to one upstream are at most a fraction of its calls, at every
moment, the first second of an outage included.

Per-call attempt limits alone multiply load during an outage (3 attempts per call is 3x the
traffic on a service that is already down). The budget is a token bucket, the shape of gRPC's
retry throttling, filled at Envoy's rate: every call adds ``ratio`` of a retry, a retry (or a
hedge) takes a whole one, and the bucket holds at most ``burst`` retries. So over any stretch of
time, retries <= ``ratio`` x calls in it + ``burst``: with the defaults (0.2 and 1) an outage
costs at most 1.2 attempts per call, plus one retry, in its first second as in every other.

Not a share of the calls in a rolling window: the healthy calls before an outage would pay for
its first retries, up to ``max_attempts`` per call in its first second. docs/resilience.md says
why not Envoy's or gRPC's budget as they are.
"""

from __future__ import annotations

import math


class RetryBudget:
    """
    >>> budget = RetryBudget(ratio=0.2, burst=1)
    >>> budget.try_spend(), budget.try_spend()  # the reserve, then nothing
    (True, False)
    >>> for _ in range(5): budget.record_call()
    >>> budget.try_spend(), budget.try_spend()  # five calls pay for one retry
    (True, False)
    """

    __slots__ = ("_cap", "_cost", "_credit")

    def __init__(self, *, ratio: float, burst: int) -> None:
        # Counted in calls, so a call adds exactly 1 and a retry costs 1 / ratio calls (5.0 at
        # 0.2): no rounding creeps into the bound. A zero ratio means no retries at all.
        self._cost = 1 / ratio if ratio > 0 else math.inf
        self._cap = burst * self._cost if ratio > 0 else 0.0
        self._credit = self._cap  # full: a quiet upstream can retry its first failure

    def record_call(self) -> None:
        """One call (not an attempt) to this upstream."""
        credit = self._credit + 1
        self._credit = credit if credit < self._cap else self._cap

    def try_spend(self) -> bool:
        """Take one retry (or hedge) from the budget; False when it is spent."""
        if self._credit < self._cost:
            return False
        self._credit -= self._cost
        return True
