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
ceiling. A loop that lags with room under the cap lags for another reason (new connections
arriving, say): admitting fewer would not help, so the cap stays. A core whose requests wait on
upstreams never lags, and keeps the whole ceiling.

Nor is lag the process's own doing when the process was not running: a neighbour on the core
(another process the scheduler gives its turns to) makes every timer late while this process
uses a fraction of the core. Each measurement also reads the process's CPU time; while its
share of the wall-clock time (a moving average over about ``BUSY_SAMPLES`` measurements) is
under ``BUSY_SHARE``, the loop's lag is not taken for an overload: the cap does not shrink, and
a cap that shrank grows back. Without this the cap fell to the floor and stayed there (a soak at
70% of the peak, a neighbour taking a quarter of the core: the cap full at every size, every
sample late, 9,000-15,000 requests shed a minute while the process served 1,000-1,200 a second
of the 1,482 offered): the refusals are then the only thing that stays cheap, and latency is
bounded by the shed stage's queue and wait limits instead.

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
import time
from collections.abc import Callable
from typing import Protocol

#: The cap never falls below this (or the ceiling, if lower): a few requests always run.
FLOOR = 8
#: How often the lag is measured.
INTERVAL_S = 0.01
#: For this long after the cap last shrank, it shrinks again without waiting for the window.
RECENT_S = 10.0
#: Under this share of the wall-clock time on the CPU, the process's lag is not its own load.
BUSY_SHARE = 0.85
#: The process's CPU share is averaged over about this many measurements.
BUSY_SAMPLES = 10


class Capped(Protocol):
    """What the cap is applied to (the shed stage's admission queue)."""

    max_in_flight: int
    in_flight: int


class LagLimit:
    """An in-flight cap that follows the event loop's standing lag (see the module doc)."""

    def __init__(
        self,
        *,
        ceiling: int,
        target_lag_s: float,
        window_s: float = 1.0,
        cpu_clock: Callable[[], float] = time.process_time,
    ) -> None:
        self.ceiling = ceiling
        self.cpu_clock = cpu_clock  # the process's CPU time, seconds
        self.target_lag_s = target_lag_s
        self.window_s = window_s
        self.value = ceiling
        self.lag_s = 0.0  # the standing lag last measured
        self._last_s = 0.0
        self._late_s = 0.0  # how long every measurement has been over the target
        self._since_shrunk_s = RECENT_S  # how long since the cap last shrank
        self.busy = 1.0  # the process's recent share of the wall-clock time on the CPU

    def adjust(self, lag_s: float, *, full: bool, busy: float = 1.0) -> int:
        """Take one measurement of the loop's lag, ``full`` if the cap was, ``busy`` the
        process's share of the time on the CPU since the last; the cap after it."""
        standing = min(lag_s, self._last_s)
        self._last_s = lag_s
        self.lag_s = standing
        self.busy += (busy - self.busy) / BUSY_SAMPLES
        own = self.busy >= BUSY_SHARE  # else the lag is a neighbour's turn on the core
        # Each measurement spans its interval and its lag: the time the loop has been late.
        spanned = INTERVAL_S + lag_s
        late = lag_s > self.target_lag_s and own
        self._late_s = self._late_s + spanned if late else 0.0
        self._since_shrunk_s += spanned
        if standing > self.target_lag_s and own:
            if not full or self._stall(at_ceiling=self.value >= self.ceiling):
                return self.value  # not the admitted requests' doing, or not (yet) an overload
            self.value = max(min(FLOOR, self.ceiling), int(self.value * 0.9))
            self._since_shrunk_s = 0.0
        elif (standing < self.target_lag_s / 2 or not own) and self.value < self.ceiling:
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
            started, cpu = loop.time(), self.cpu_clock()
            await asyncio.sleep(INTERVAL_S)
            spanned = loop.time() - started
            lag = max(0.0, spanned - INTERVAL_S)
            busy = (self.cpu_clock() - cpu) / spanned if spanned > 0 else 1.0
            # Nearly full counts: a sample can fall between an answer and the next admission.
            full = gate.in_flight * 10 >= gate.max_in_flight * 9
            gate.max_in_flight = self.adjust(lag, full=full, busy=busy)
