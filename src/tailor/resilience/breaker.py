"""A circuit breaker per upstream, shared by every endpoint of a BFF.

    CLOSED ──(>= min_calls in the window and failure rate >= threshold)──► OPEN
    CLOSED ──(consecutive_failures failures in a row)──► OPEN
    OPEN ──(cool-down over; the next call is a probe)──► HALF_OPEN
    HALF_OPEN ──(probe succeeds)──► CLOSED    HALF_OPEN ──(probe fails)──► OPEN

The two triggers cover each other: the failure rate sees an upstream that fails often but not
always, and the run of failures sees an outage at once, even when the window is still full of
the successes before it (which would keep the rate under its threshold for seconds).

While open, calls fail fast with :class:`CircuitOpen` and no request leaves the BFF, which
gives a struggling service room to recover and answers the caller at once instead of after a
timeout. Half-open lets ``half_open_probes`` calls through at a time.
"""

from __future__ import annotations

import enum
import math
import time
from collections.abc import Callable

from tailor.resilience.errors import CircuitOpen
from tailor.resilience.settings import BreakerSettings
from tailor.resilience.window import Clock, RollingCounts

_CALLS, _FAILURES = 0, 1


class BreakerState(enum.IntEnum):
    """Values of the ``tailor_circuit_state`` gauge."""

    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2


StateListener = Callable[[str, BreakerState], None]


_CLOSED = BreakerState.CLOSED


class CircuitBreaker:
    """
    >>> breaker = CircuitBreaker("users", BreakerSettings(min_calls=2, failure_rate=0.5))
    >>> for _ in range(2): breaker.record(breaker.admit(), ok=False)
    >>> breaker.state
    <BreakerState.OPEN: 2>
    """

    def __init__(
        self,
        upstream: str,
        settings: BreakerSettings,
        *,
        clock: Clock = time.monotonic,
        on_change: StateListener | None = None,
    ) -> None:
        self.upstream = upstream
        self.settings = settings
        self.state = BreakerState.CLOSED
        self._clock = clock
        self._on_change = on_change
        self._counts = RollingCounts(settings.window_s, fields=2, clock=clock)
        self._opened_at = 0.0
        self._probes = 0
        self._streak = 0  # failures in a row since the last success
        self._streak_limit = settings.consecutive_failures or math.inf

    def admit(self) -> bool:
        """Let a call through or raise :class:`CircuitOpen`. Returns True when the call is a
        half-open probe (its outcome decides the state)."""
        if self.state is _CLOSED or not self.settings.enabled:
            return False  # the common case first: one comparison
        if self.state is BreakerState.OPEN:
            left = self._opened_at + self.settings.cool_down_s - self._clock()
            if left > 0:
                raise CircuitOpen(self.upstream, left)
            self._set(BreakerState.HALF_OPEN)
            self._probes = 0
        if self.state is BreakerState.HALF_OPEN:
            if self._probes >= self.settings.half_open_probes:
                raise CircuitOpen(self.upstream, self.settings.cool_down_s)
            self._probes += 1
            return True
        return False

    def record(self, probe: bool, *, ok: bool) -> None:
        """The outcome of a call admitted by :meth:`admit`."""
        if not self.settings.enabled:
            return
        if probe:
            if self.state is BreakerState.HALF_OPEN:
                if ok:
                    self._counts.clear()
                    self._set(BreakerState.CLOSED)
                else:
                    self._open()
            return
        if self.state is not BreakerState.CLOSED:
            return  # a straggler from before the breaker opened: the probe decides now
        self._counts.add(_CALLS)
        if ok:
            self._streak = 0
            return
        self._counts.add(_FAILURES)
        self._streak += 1
        calls = self._counts.total(_CALLS)
        if self._streak >= self._streak_limit or (
            calls >= self.settings.min_calls
            and self._counts.total(_FAILURES) >= self.settings.failure_rate * calls
        ):
            self._open()

    def release(self, probe: bool) -> None:
        """A call admitted by :meth:`admit` ended without an outcome (cancelled)."""
        if probe and self.state is BreakerState.HALF_OPEN:
            self._probes = max(0, self._probes - 1)

    def retry_after(self) -> float:
        if self.state is not BreakerState.OPEN:
            return 0.0
        return max(0.0, self._opened_at + self.settings.cool_down_s - self._clock())

    def _open(self) -> None:
        self._opened_at = self._clock()
        self._counts.clear()
        self._streak = 0
        self._set(BreakerState.OPEN)

    def _set(self, state: BreakerState) -> None:
        if state is self.state:
            return
        self.state = state
        if self._on_change is not None:
            self._on_change(self.upstream, state)
