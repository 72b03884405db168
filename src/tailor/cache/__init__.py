"""The edge cache: per-route policies, per-caller keys, two backends, tag invalidation.

    @bff.get("/v1/home", cache=CachePolicy(scope="user", ttl_s=60, stale_while_revalidate_s=30))
    async def home(request: Request) -> Response:
        tag(request, f"feed:{user}", f"user:{user}")
        ...

The stage (``tailor.stages.cache``) answers hits, 304s and stale entries; coalesces
concurrent misses into one fan-out; and stores only complete ``200`` responses without
cookies. Change events on a Redis channel purge entries by the tags handlers attach.
See ``docs/caching.md``.
"""

from __future__ import annotations

from collections.abc import Iterable

from tailor.cache.backend import CacheBackend, CacheBackendError, MemoryCacheBackend
from tailor.cache.entry import CacheEntry
from tailor.cache.policy import CachePolicy
from tailor.http import Request


def tag(request: Request, *tags: str | Iterable[str]) -> None:
    """Attach invalidation tags to this request's response (what its content depends on).

    >>> r = Request("GET", "/v1/home", "", {}, "127.0.0.1")
    >>> tag(r, "feed:u1", ["user:u1"]); r.cache_tags
    ['feed:u1', 'user:u1']
    """
    found = request.cache_tags
    if found is None:
        found = request.cache_tags = []
    for item in tags:
        if isinstance(item, str):
            found.append(item)
        else:
            found.extend(item)


__all__ = [
    "CacheBackend",
    "CacheBackendError",
    "CacheEntry",
    "CachePolicy",
    "MemoryCacheBackend",
    "tag",
]
