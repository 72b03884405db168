"""Rate limiting: GCRA quotas per client IP, user and app, in memory or in Redis.

    limiter = MemoryRateLimiter()
    verdict = await limiter.acquire([Quota("rl:ip:203.0.113.7", limit=100, window_s=60)])
    verdict.allowed, verdict.usages[0].remaining   # (True, 99)

The stage that applies configured policies to requests is :mod:`tailor.stages.ratelimit`.
"""

from tailor.ratelimit.gcra import BackendUnavailable, Quota, RateLimiter, Usage, Verdict
from tailor.ratelimit.memory import MemoryRateLimiter
from tailor.ratelimit.redis_backend import RedisRateLimiter

__all__ = [
    "BackendUnavailable",
    "MemoryRateLimiter",
    "Quota",
    "RateLimiter",
    "RedisRateLimiter",
    "Usage",
    "Verdict",
]
