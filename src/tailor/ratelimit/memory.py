"""Quotas in this process's memory: exact within one process (the event loop runs one
``acquire`` at a time, and it never awaits), not shared across processes."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from tailor.ratelimit.gcra import Quota, Verdict, judge


def _now_us() -> int:
    return time.monotonic_ns() // 1000


class MemoryBackend:
    """TATs in a dict, bounded by ``max_keys``.

    >>> import asyncio
    >>> backend = MemoryBackend()
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
        now: int = self._now()
        tat = self._tat
        held: list[int] = []
        for q in quotas:
            ahead = tat.get(q.key, now) - now
            held.append(ahead if ahead > 0 else 0)
        verdict = judge(quotas, held)
        if verdict.allowed:
            for q, h in zip(quotas, held, strict=True):
                tat.pop(q.key, None)  # re-insert last: the dict's order is recency of use
                tat[q.key] = now + h + q.interval_us
            if len(tat) > self._max_keys:
                self._evict(now)
        return verdict

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
