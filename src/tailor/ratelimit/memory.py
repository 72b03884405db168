"""Quotas in this process's memory: exact within one process (the event loop runs one
``acquire`` at a time, and it never awaits), not shared across processes."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from tailor.ratelimit.gcra import Quota, Verdict, allowed, refused


def _now_us() -> int:
    return time.monotonic_ns() // 1000


class MemoryRateLimiter:
    """TATs in a dict, bounded by ``max_keys``.

    >>> import asyncio
    >>> backend = MemoryRateLimiter()
    >>> asyncio.run(backend.acquire([Quota("k", 1, 60)])).allowed
    True
    """

    def __init__(self, max_keys: int = 100_000, clock: Callable[[], int] = _now_us) -> None:
        self._tat: dict[str, int] = {}
        self._max_keys = max_keys
        self._now = clock  # microseconds; a test may pass its own

    def __len__(self) -> int:
        return len(self._tat)

    async def acquire(self, quotas: Sequence[Quota]) -> Verdict:
        return self.charge(quotas)

    def charge(self, quotas: Sequence[Quota]) -> Verdict:
        """:meth:`acquire` without the coroutine: this backend never waits, so the stage
        calls this directly on every request."""
        if len(quotas) == 1:
            return self._charge_one(quotas[0])
        now: int = self._now()
        tat = self._tat
        # gcra.judge's rule, in the pass that reads the keys (no list of held times unless
        # one does not fit); the keys are written only once all of them fit.
        charges: list[tuple[Quota, int]] = []
        for q in quotas:
            ahead = tat.get(q.key, now) - now
            used = (ahead if ahead > 0 else 0) + q.interval_us
            if used > q.capacity_us:
                held = [max(tat.get(each.key, now) - now, 0) for each in quotas]
                return refused(quotas, held)
            charges.append((q, used))
        for q, used in charges:
            tat.pop(q.key, None)  # re-insert last: the dict's order is recency of use
            tat[q.key] = now + used
        if len(tat) > self._max_keys:
            self._evict(now)
        return allowed(charges)

    def _charge_one(self, quota: Quota) -> Verdict:
        """:meth:`charge` for the common single quota, without the lists and the loops
        (cheaper: see docs/benchmarks.md)."""
        now: int = self._now()
        tat = self._tat
        key = quota.key
        ahead = tat.get(key, now) - now
        held = ahead if ahead > 0 else 0
        used = held + quota.interval_us
        if used > quota.capacity_us:
            return refused((quota,), (held,))
        tat.pop(key, None)  # re-insert last: the dict's order is recency of use
        tat[key] = now + used
        if len(tat) > self._max_keys:
            self._evict(now)
        return allowed(((quota, used),))

    def _evict(self, now: int) -> None:
        """Drop keys whose TAT has passed (they are as good as new); if that is not enough,
        the least recently charged ones (which reset them: the bound wins over exactness)."""
        tat = self._tat
        for key in [k for k, t in tat.items() if t <= now]:
            del tat[key]
        excess = len(tat) - self._max_keys
        if excess > 0:
            for key in list(tat)[:excess]:
                del tat[key]
