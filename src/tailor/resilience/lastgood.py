"""Last-known-good values of optional parts: what to show when an upstream is down.

Kept in a bounded in-memory LRU, keyed by part, cache scope (who may see it) and the exact
call (path, query, the headers the BFF added). A value older than ``max_age_s`` is not served:
stale is better than nothing only up to a point. Per process, deliberately: it is a fallback,
not a cache, and a BFF keeps no durable state.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any

from tailor.resilience.window import Clock


class LastKnownGood:
    """
    >>> store = LastKnownGood(max_entries=2, max_age_s=60)
    >>> store.put(("recs", "u1"), [1, 2])
    >>> store.get(("recs", "u1")), store.get(("recs", "u2"))
    ([1, 2], None)
    """

    def __init__(self, *, max_entries: int, max_age_s: float, clock: Clock = time.monotonic):
        self._max_entries = max_entries
        self._max_age_s = max_age_s
        self._clock = clock
        self._entries: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()

    def put(self, key: Hashable, value: Any) -> None:
        self._entries[key] = (self._clock(), value)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    def get(self, key: Hashable) -> Any | None:
        found = self._entries.get(key)
        if found is None:
            return None
        stored_at, value = found
        if self._clock() - stored_at > self._max_age_s:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return value

    def __len__(self) -> int:
        return len(self._entries)
