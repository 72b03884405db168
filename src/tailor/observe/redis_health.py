"""Watches the BFF's Redis, so its death is reported rather than only felt: a PING every
``interval_s``, the gauge ``tailor_redis_up`` (1 while it answers, 0 while not) and the
counter ``tailor_redis_lost`` on the admin port's ``/metrics``, and one log line when Redis
stops answering and one when it answers again (not one per failed request).

Only a BFF whose stages use Redis (sessions, rate limits, cache) runs it. The client itself
reconnects on its own: a request after Redis is back gets a fresh connection from the pool.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from prometheus_client import CollectorRegistry, Counter, Gauge

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger("tailor.redis")


class RedisHealth:
    """The health of one Redis client, checked by :meth:`check` (``run`` checks forever).

    >>> import asyncio
    >>> from redis.asyncio import Redis
    >>> url = "redis://127.0.0.1:1"  # nothing listens there: a Redis that is down
    >>> registry = CollectorRegistry()
    >>> health = RedisHealth(Redis.from_url(url), registry, url)
    >>> asyncio.run(health.check()), registry.get_sample_value("tailor_redis_up")
    (False, 0.0)
    """

    def __init__(
        self,
        redis: Redis,
        registry: CollectorRegistry,
        url: str,
        *,
        interval_s: float = 1.0,
    ) -> None:
        self._redis = redis
        parts = urlsplit(url)
        self._where = f"{parts.hostname}:{parts.port or 6379}"  # never the password in a log
        self._interval_s = interval_s
        self._up = Gauge(
            "tailor_redis_up",
            "1 while the BFF's Redis answers PING, 0 while it does not.",
            registry=registry,
        )
        self._lost = Counter(
            "tailor_redis_lost",
            "Times the BFF's Redis stopped answering PING.",
            registry=registry,
        )
        self._was_up = True
        self._up.set(1)

    async def check(self) -> bool:
        """Ping once; update the gauge, and log (and count) a change of state."""
        try:
            up = bool(await self._redis.ping())
        except Exception as exc:  # redis-py raises its own tree and OSError subclasses
            up = False
            reason = f"{type(exc).__name__}: {exc}"
        self._up.set(1 if up else 0)
        if up != self._was_up:
            if up:
                log.warning("redis at %s answers again", self._where)
            else:
                self._lost.inc()
                log.error("redis at %s is unreachable (%s)", self._where, reason)
            self._was_up = up
        return up

    async def run(self) -> None:
        while True:
            await self.check()
            await asyncio.sleep(self._interval_s)
