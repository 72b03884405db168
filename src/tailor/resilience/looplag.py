"""The in-flight cap of the shed stage, adapted to how late the event loop runs.

One event loop serves every request of a worker, so when its core is saturated each request
in flight takes a share of every turn of the loop: the more are admitted, the longer each
turn, and the later every answer, the refusals included (bytes that arrive during a turn wait
in the kernel for the next one). A fixed cap cannot fit every BFF: the requests a core keeps
busy depend on how long the upstreams take (a home whose upstreams answer at once needs a few
in flight, one waiting 60 ms on them needs hundreds at the same rate).

So the cap follows the loop's lag, the way TCP follows a congested link (additive increase,
multiplicative decrease): every ``interval_s`` a timer measures how late it ran. The lesser of
the last two measurements is the standing lag (a single long pause, a garbage collection or a
descheduled process, is not a queue). Above ``target_lag_s``, while the cap is full, the cap
shrinks by a tenth; below half of it the cap grows by a sixteenth, back up to the configured
ceiling. A loop that lags with room under the cap lags for another reason (a neighbour on the
core, new connections arriving): admitting fewer would not help, so the cap stays. A core whose
requests wait on upstreams never lags, and keeps the whole ceiling.

>>> cap = LagLimit(ceiling=256, target_lag_s=0.01)
>>> cap.adjust(0.05, full=True), cap.adjust(0.05, full=True), cap.adjust(0.05, full=False)
(256, 230, 230)
"""

from __future__ import annotations

import asyncio
from typing import Protocol

#: The cap never falls below this (or the ceiling, if lower): a few requests always run.
FLOOR = 8
#: How often the lag is measured.
INTERVAL_S = 0.01


class Capped(Protocol):
    """What the cap is applied to (the shed stage's admission queue)."""

    max_in_flight: int
    in_flight: int


class LagLimit:
    """An in-flight cap that follows the event loop's standing lag (see the module doc)."""

    def __init__(self, *, ceiling: int, target_lag_s: float) -> None:
        self.ceiling = ceiling
        self.target_lag_s = target_lag_s
        self.value = ceiling
        self.lag_s = 0.0  # the standing lag last measured
        self._last_s = 0.0

    def adjust(self, lag_s: float, *, full: bool) -> int:
        """Take one measurement of the loop's lag, ``full`` if the cap was; the cap after it."""
        standing = min(lag_s, self._last_s)
        self._last_s = lag_s
        self.lag_s = standing
        if standing > self.target_lag_s:
            if not full:
                return self.value
            self.value = max(min(FLOOR, self.ceiling), int(self.value * 0.9))
        elif standing < self.target_lag_s / 2 and self.value < self.ceiling:
            self.value = min(self.ceiling, self.value + max(1, self.value // 16))
        return self.value

    async def run(self, gate: Capped) -> None:
        """Measure the lag every ``INTERVAL_S`` and cap ``gate`` accordingly, until cancelled
        (a BFF background job)."""
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            await asyncio.sleep(INTERVAL_S)
            lag = max(0.0, loop.time() - started - INTERVAL_S)
            # Nearly full counts: a sample can fall between an answer and the next admission.
            full = gate.in_flight * 10 >= gate.max_in_flight * 9
            gate.max_in_flight = self.adjust(lag, full=full)
