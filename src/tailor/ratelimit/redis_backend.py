"""Quotas in Redis: one Lua script judges and charges every quota of a request atomically,
with Redis's own clock (``TIME``), so any number of BFF processes share exact counters.

The script is registered once (``EVALSHA``); after a Redis restart has emptied its script
cache, redis-py's ``AsyncScript`` sees ``NOSCRIPT``, loads it again and retries. Every call is
bounded by ``timeout_s``; after a failure the backend is skipped for ``retry_s`` (a dead Redis
then costs nothing per request instead of a timeout each).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from tailor.ratelimit.gcra import BackendUnavailable, Quota, Verdict, judge

if TYPE_CHECKING:
    from redis.asyncio import Redis

# KEYS: one per quota. ARGV: interval_us, capacity_us per quota.
# Returns how far each key's TAT is ahead of now (0 for a fresh key), after charging every
# key if and only if all of them fit. Integers below 2^53 are exact in Lua's doubles.
GCRA_LUA = """
local now_t = redis.call('TIME')
local now = tonumber(now_t[1]) * 1000000 + tonumber(now_t[2])
local held = {}
local fits = true
for i = 1, #KEYS do
  local interval = tonumber(ARGV[2 * i - 1])
  local capacity = tonumber(ARGV[2 * i])
  local tat = tonumber(redis.call('GET', KEYS[i]) or '0')
  local h = tat - now
  if h < 0 then h = 0 end
  held[i] = h
  if h + interval > capacity then fits = false end
end
if fits then
  for i = 1, #KEYS do
    local ahead = held[i] + tonumber(ARGV[2 * i - 1])
    redis.call('SET', KEYS[i], string.format('%.0f', now + ahead),
               'PX', math.ceil(ahead / 1000))
  end
end
return held
"""


class RedisRateLimiter:
    """Exact quotas across processes.

    An illustration (it needs a live Redis, so it is not a doctest)::

        backend = RedisRateLimiter(Redis.from_url("redis://127.0.0.1:6379/0"))
        (await backend.acquire([Quota("rl:user:u1", 600, 60)])).allowed  # True
    """

    def __init__(self, redis: Redis, *, timeout_s: float = 0.25, retry_s: float = 1.0) -> None:
        from redis.exceptions import RedisError  # here: redis is an extra (tailor[redis])

        self._failures = (RedisError, OSError, TimeoutError)
        self._script = redis.register_script(GCRA_LUA)
        self._timeout_s = timeout_s
        self._retry_s = retry_s
        self._down_until = 0.0

    async def acquire(self, quotas: Sequence[Quota]) -> Verdict:
        if self._down_until and time.monotonic() < self._down_until:
            raise BackendUnavailable("redis failed recently; not retried yet")
        args: list[int] = []
        for q in quotas:
            args += (q.interval_us, q.capacity_us)
        try:
            async with asyncio.timeout(self._timeout_s):
                held = await self._script(keys=[q.key for q in quotas], args=args)
        except self._failures as exc:
            self._down_until = time.monotonic() + self._retry_s
            raise BackendUnavailable(f"redis: {type(exc).__name__}: {exc}") from exc
        self._down_until = 0.0
        return judge(quotas, [int(h) for h in held])
