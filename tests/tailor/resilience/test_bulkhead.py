"""The bulkhead: a counter with a bounded queue, handing slots straight to waiters."""

from __future__ import annotations

import asyncio

import pytest

from tailor.resilience.bulkhead import Bulkhead
from tailor.resilience.errors import BulkheadFull


def test_free_slots_are_taken_without_awaiting() -> None:
    bulkhead = Bulkhead("users", max_concurrent=2, max_wait_s=0.01)
    assert bulkhead.try_acquire() and bulkhead.try_acquire()
    assert not bulkhead.try_acquire()
    assert bulkhead.in_flight == 2


async def test_a_full_bulkhead_refuses_after_its_wait() -> None:
    bulkhead = Bulkhead("users", max_concurrent=1, max_wait_s=0.01)
    assert bulkhead.try_acquire()
    with pytest.raises(BulkheadFull):
        await bulkhead.acquire()
    assert bulkhead.in_flight == 1


async def test_a_released_slot_passes_to_the_waiter_in_line() -> None:
    bulkhead = Bulkhead("users", max_concurrent=1, max_wait_s=5.0)
    assert bulkhead.try_acquire()
    waiter = asyncio.ensure_future(bulkhead.acquire())
    await asyncio.sleep(0)  # let it queue
    assert not waiter.done()
    bulkhead.release()
    await asyncio.wait_for(waiter, 1.0)
    assert bulkhead.in_flight == 1  # the slot moved; it was not freed and taken again
    assert not bulkhead.try_acquire(), "a newcomer cannot jump the handed-over slot"


async def test_a_waiter_cancelled_after_being_handed_a_slot_gives_it_back() -> None:
    bulkhead = Bulkhead("users", max_concurrent=1, max_wait_s=5.0)
    assert bulkhead.try_acquire()
    waiter = asyncio.ensure_future(bulkhead.acquire())
    await asyncio.sleep(0)
    bulkhead.release()  # hands the slot to the waiter...
    waiter.cancel()  # ...which is cancelled before it runs
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert bulkhead.in_flight == 0
    assert bulkhead.try_acquire()
