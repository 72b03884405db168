"""A concurrency limit per upstream: one slow service cannot take every connection and every
task of the BFF with it. A call over the limit waits at most ``max_wait_s`` for a slot, then
fails fast with :class:`BulkheadFull`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from tailor.resilience.errors import BulkheadFull


class Bulkhead:
    """
    >>> bulkhead = Bulkhead("users", max_concurrent=64, max_wait_s=0.01)
    >>> async with bulkhead.slot():  # doctest: +SKIP
    ...     ...
    """

    def __init__(self, upstream: str, *, max_concurrent: int, max_wait_s: float) -> None:
        self.upstream = upstream
        self.max_concurrent = max_concurrent
        self._max_wait_s = max_wait_s
        self._semaphore = asyncio.Semaphore(max_concurrent)
        self.in_flight = 0

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        if self._semaphore.locked():
            try:
                async with asyncio.timeout(self._max_wait_s):
                    await self._semaphore.acquire()
            except TimeoutError:
                raise BulkheadFull(self.upstream) from None
        else:
            await self._semaphore.acquire()
        self.in_flight += 1
        try:
            yield
        finally:
            self.in_flight -= 1
            self._semaphore.release()
