"""A concurrency limit per upstream: one slow service cannot take every connection and every
task of the BFF with it. A call over the limit waits at most ``max_wait_s`` for a slot, then
fails fast with :class:`BulkheadFull`."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from tailor.resilience.errors import BulkheadFull


class Bulkhead:
    """
    >>> bulkhead = Bulkhead("users", max_concurrent=1, max_wait_s=0.01)
    >>> bulkhead.try_acquire(), bulkhead.try_acquire()  # the second would wait: acquire()
    (True, False)
    >>> bulkhead.release()

    A slot is a counter, not a lock: taking a free one is a synchronous decrement (this runs
    on every inward call); only a full bulkhead queues, bounded by ``max_wait_s``.
    """

    def __init__(self, upstream: str, *, max_concurrent: int, max_wait_s: float) -> None:
        self.upstream = upstream
        self.max_concurrent = max_concurrent
        self._max_wait_s = max_wait_s
        self._waiters: deque[asyncio.Future[None]] = deque()
        self.in_flight = 0

    def try_acquire(self) -> bool:
        if self.in_flight < self.max_concurrent and not self._waiters:
            self.in_flight += 1
            return True
        return False

    async def acquire(self) -> None:
        """Wait for a slot, at most ``max_wait_s``; raise :class:`BulkheadFull` after that."""
        if self.try_acquire():
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(self._max_wait_s):
                await waiter  # release() hands its slot over: in_flight already counts us
        except TimeoutError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # the slot arrived as the wait ran out: give it back
            raise BulkheadFull(self.upstream) from None
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # handed a slot, then cancelled before using it
            raise
        finally:
            with contextlib.suppress(ValueError):
                self._waiters.remove(waiter)

    def release(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot passes straight to the next waiter
                return
        self.in_flight -= 1

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """The same as try_acquire/acquire ... release, as a context manager."""
        await self.acquire()
        try:
            yield
        finally:
            self.release()
