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

A cap at its ceiling starts to shrink only once the lag has stood above the target for
``window_s`` in a row: a stall (the process descheduled, a long collection) leaves a backlog
that a core busy a fraction p of the time works off over about 1/(1-p) times the stall, every
turn of it late, and refusing then would shed requests the core can serve. An overload keeps
the loop late for as long as it lasts; once the cap has shrunk, it follows every sample, and
for ``RECENT_S`` after it last shrank it does not wait for the window again (an overload whose
cap grew back to the ceiling in a quiet moment is still an overload).

>>> cap = LagLimit(ceiling=256, target_lag_s=0.01, window_s=0.05)
>>> [cap.adjust(0.02, full=True) for _ in range(3)], cap.adjust(0.02, full=False)
([256, 230, 207], 207)
"""

from __future__ import annotations

import asyncio
from typing import Protocol

#: The cap never falls below this (or the ceiling, if lower): a few requests always run.
FLOOR = 8
#: How often the lag is measured.
INTERVAL_S = 0.01
#: For this long after the cap last shrank, it shrinks again without waiting for the window.
RECENT_S = 10.0


class Capped(Protocol):
    """What the cap is applied to (the shed stage's admission queue)."""

    max_in_flight: int
    in_flight: int
    #: Admitted, not yet in flight: a server's connections whose first request has not
    #: arrived (they count toward a full cap).
    pending: int


class LagLimit:
    """An in-flight cap that follows the event loop's standing lag (see the module doc)."""

    def __init__(self, *, ceiling: int, target_lag_s: float, window_s: float = 1.0) -> None:
        self.ceiling = ceiling
        self.target_lag_s = target_lag_s
        self.window_s = window_s
        self.value = ceiling
        self.lag_s = 0.0  # the standing lag last measured
        self._last_s = 0.0
        self._late_s = 0.0  # how long every measurement has been over the target
        self._since_shrunk_s = RECENT_S  # how long since the cap last shrank

    def adjust(self, lag_s: float, *, full: bool) -> int:
        """Take one measurement of the loop's lag, ``full`` if the cap was; the cap after it."""
        standing = min(lag_s, self._last_s)
        self._last_s = lag_s
        self.lag_s = standing
        # Each measurement spans its interval and its lag: the time the loop has been late.
        spanned = INTERVAL_S + lag_s
        self._late_s = self._late_s + spanned if lag_s > self.target_lag_s else 0.0
        self._since_shrunk_s += spanned
        if standing > self.target_lag_s:
            if not full or self._stall(at_ceiling=self.value >= self.ceiling):
                return self.value  # not the admitted requests' doing, or not (yet) an overload
            self.value = max(min(FLOOR, self.ceiling), int(self.value * 0.9))
            self._since_shrunk_s = 0.0
        elif standing < self.target_lag_s / 2 and self.value < self.ceiling:
            self.value = min(self.ceiling, self.value + max(1, self.value // 16))
        return self.value

    def _stall(self, *, at_ceiling: bool) -> bool:
        """Whether the loop's lateness may still be a stall's backlog, not an overload."""
        quiet = self._since_shrunk_s >= RECENT_S
        return at_ceiling and quiet and self._late_s < self.window_s

    async def run(self, gate: Capped) -> None:
        """Measure the lag every ``INTERVAL_S`` and cap ``gate`` accordingly, until cancelled
        (a BFF background job)."""
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            await asyncio.sleep(INTERVAL_S)
            lag = max(0.0, loop.time() - started - INTERVAL_S)
            # Nearly full counts: a sample can fall between an answer and the next admission.
            # So do connections admitted whose first request is on its way: with a new
            # connection per request, most of the cap is taken by them.
            full = (gate.in_flight + gate.pending) * 10 >= gate.max_in_flight * 9
            gate.max_in_flight = self.adjust(lag, full=full)
