"""The shed stage's cap that follows the event loop's standing lag (tailor.resilience.looplag)."""

from __future__ import annotations

import asyncio
import time

import pytest

from tailor.resilience.looplag import FLOOR, RECENT_S, LagLimit


def _limit(ceiling: int = 100, window_s: float = 0.0) -> LagLimit:
    return LagLimit(ceiling=ceiling, target_lag_s=0.01, window_s=window_s)


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


def _drain(stall_s: float, load: float) -> list[float]:
    """The lags a loop at ``load`` of its core measures after a stall: each turn works off
    what arrived during the one before, until the loop is on time again."""
    lags = []
    while stall_s > 0.005:
        lags.append(stall_s)
        stall_s *= load
    return lags


def test_a_full_cap_at_its_ceiling_holds_through_a_stall_and_its_backlog() -> None:
    limit = _limit(window_s=0.5)
    limit.adjust(0.001, full=False)
    for lag in _drain(0.12, load=0.7):  # about 0.4 s late in all
        assert limit.adjust(lag, full=True) == 100
    assert limit.adjust(0.001, full=False) == 100


def test_a_full_cap_shrinks_once_the_loop_stays_late_for_the_window() -> None:
    limit = _limit(window_s=0.5)
    caps = [limit.adjust(0.045, full=True) for _ in range(12)]  # 55 ms a measurement
    assert caps[:9] == [100] * 9
    assert caps[9:] == [90, 81, 72]


def test_a_shrunk_cap_follows_the_standing_lag_without_waiting_for_the_window() -> None:
    limit = _limit(window_s=0.5)
    for _ in range(11):
        limit.adjust(0.045, full=True)
    limit.adjust(0.001, full=False)  # on time once: the lateness starts over
    grown = limit.adjust(0.045, full=True)  # one late measurement is not a standing lag
    assert grown < 100
    assert limit.adjust(0.045, full=True) == int(grown * 0.9)


def test_a_cap_that_grew_back_soon_after_shrinking_shrinks_again_without_the_window() -> None:
    limit = _limit(window_s=0.5)
    for _ in range(10):
        limit.adjust(0.045, full=True)  # an overload: shrinks once the window has passed
    assert limit.value < 100
    while limit.value < 100:
        limit.adjust(0.001, full=False)  # a quiet moment within it: back to the ceiling
    limit.adjust(0.045, full=True)
    assert limit.adjust(0.045, full=True) == 90


def test_a_cap_quiet_since_it_last_shrank_waits_for_the_window_again() -> None:
    limit = _limit(window_s=0.5)
    for _ in range(10):
        limit.adjust(0.045, full=True)
    while limit.value < 100:
        limit.adjust(0.001, full=False)
    for _ in range(int(RECENT_S / 0.011) + 1):  # on time since, for longer than RECENT_S
        limit.adjust(0.001, full=False)
    limit.adjust(0.045, full=True)
    assert limit.adjust(0.045, full=True) == 100


class _StalledGate:
    """A full admission gate whose loop is stalled on purpose: after the limit sets the cap
    for the n-th time, the next turn of the loop blocks for ``stalls[n]`` seconds (nothing else
    runs meanwhile), which the limit's next measurement sees as lag. The test wakes once every
    stall has been measured."""

    def __init__(self, ceiling: int, stalls: list[float], pending: int = 0) -> None:
        self.in_flight = ceiling - pending
        self.pending = pending
        self.caps: list[int] = []
        self._stalls = stalls
        self.done = asyncio.Event()

    @property
    def max_in_flight(self) -> int:
        return self.caps[-1] if self.caps else self.in_flight + self.pending

    @max_in_flight.setter
    def max_in_flight(self, value: int) -> None:
        n = len(self.caps)
        self.caps.append(value)
        if n < len(self._stalls):
            asyncio.get_running_loop().call_soon(time.sleep, self._stalls[n])
        elif n == len(self._stalls) + 1:
            self.done.set()


async def _run(limit: LagLimit, gate: _StalledGate) -> list[int]:
    task = asyncio.create_task(limit.run(gate))
    await gate.done.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    return gate.caps


async def test_a_loop_stalled_then_catching_up_keeps_the_whole_cap() -> None:
    limit = LagLimit(ceiling=100, target_lag_s=0.01)  # the default window: 1 s
    caps = await _run(limit, _StalledGate(100, _drain(0.12, load=0.7)))
    assert set(caps) == {100}


async def test_a_loop_kept_late_past_the_window_shrinks_a_full_cap() -> None:
    limit = LagLimit(ceiling=100, target_lag_s=0.01, window_s=0.2)
    caps = await _run(limit, _StalledGate(100, [0.04] * 8))
    assert caps[0] == 100
    assert caps[-1] < 100


async def test_a_cap_filled_by_connections_whose_first_request_is_pending_is_full() -> None:
    limit = LagLimit(ceiling=100, target_lag_s=0.01, window_s=0.2)
    caps = await _run(limit, _StalledGate(100, [0.04] * 8, pending=80))
    assert caps[-1] < 100
