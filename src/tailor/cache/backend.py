"""The cache backend seam and the default in-memory LRU.

A backend stores :class:`CacheEntry` values by key and keeps a tag index, so an event that
names a tag purges every entry tagged with it. Backend failures raise
:class:`CacheBackendError`; the cache stage counts them and falls through to the upstreams,
never turning them into a client error.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Iterable
from typing import Protocol

from tailor.cache.entry import CacheEntry
from tailor.errors import TailorError


class CacheBackendError(TailorError):
    """The backend could not answer (Redis down, a timeout, an undecodable value)."""


class CacheBackend(Protocol):
    name: str

    async def get(self, key: str) -> CacheEntry | None: ...

    async def set(self, key: str, entry: CacheEntry) -> None: ...

    async def purge_tags(self, tags: Iterable[str]) -> int:
        """Delete every entry tagged with any of ``tags``; returns how many went."""
        ...

    async def clear(self) -> None:
        """Drop what this instance holds (after missed invalidation events)."""
        ...


class MemoryCacheBackend:
    """A least-recently-used map bounded by entry count and by bytes.

    >>> backend = MemoryCacheBackend(max_entries=1000, max_bytes=16 * 1024 * 1024)

    Expired entries (past ttl + the longest stale window) are dropped when they are read;
    the bounds evict the least recently used first. One process only: each instance of a
    BFF has its own, kept coherent by invalidation events.
    """

    name = "memory"

    def __init__(self, max_entries: int, max_bytes: int) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.bytes = 0
        self._entries: OrderedDict[str, CacheEntry] = OrderedDict()
        self._tags: dict[str, set[str]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, key: str) -> CacheEntry | None:
        return self.peek(key)

    def peek(self, key: str) -> CacheEntry | None:
        """:meth:`get` without the coroutine: this backend never waits, so the cache stage
        calls this directly on every lookup."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.age(time.time()) >= entry.lifetime_s:
            self._remove(key)
            return None
        self._entries.move_to_end(key)
        return entry

    async def set(self, key: str, entry: CacheEntry) -> None:
        if entry.size > self.max_bytes:
            return  # would evict everything else for one oversized response
        if key in self._entries:
            self._remove(key)
        self._entries[key] = entry
        self.bytes += entry.size
        for tag in entry.tags:
            self._tags.setdefault(tag, set()).add(key)
        while len(self._entries) > self.max_entries or self.bytes > self.max_bytes:
            oldest = next(iter(self._entries))
            self._remove(oldest)

    async def purge_tags(self, tags: Iterable[str]) -> int:
        purged = 0
        for tag in tags:
            for key in self._tags.pop(tag, ()):
                if key in self._entries:
                    self._remove(key)
                    purged += 1
        return purged

    async def clear(self) -> None:
        self._entries.clear()
        self._tags.clear()
        self.bytes = 0

    def _remove(self, key: str) -> None:
        entry = self._entries.pop(key)
        self.bytes -= entry.size
        for tag in entry.tags:
            keys = self._tags.get(tag)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._tags[tag]
