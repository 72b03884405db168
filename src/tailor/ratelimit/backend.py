"""The backend ``rate_limit.backend`` names, shared by every stage that counts requests."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from tailor.config import RateLimit
from tailor.ratelimit.gcra import RateLimiter
from tailor.ratelimit.memory import MemoryRateLimiter
from tailor.ratelimit.redis_backend import RedisRateLimiter

if TYPE_CHECKING:
    from redis.asyncio import Redis


def configured_backend(cfg: RateLimit, redis: Callable[[], Redis]) -> RateLimiter:
    """Redis (exact across processes, ``redis()`` called only then) or this process's memory.

    >>> configured_backend(RateLimit(), redis=lambda: None)  # doctest: +ELLIPSIS
    <tailor.ratelimit.memory.MemoryRateLimiter object at ...>
    """
    if cfg.backend == "redis":
        return RedisRateLimiter(
            redis(), timeout_s=cfg.backend_timeout_s, retry_s=cfg.backend_retry_s
        )
    return MemoryRateLimiter(cfg.max_keys)
