"""Event-driven invalidation: services publish change events on a Redis channel; every
instance of every BFF subscribes and purges the entries tagged with what changed.

An event is a JSON object::

    {"type": "track.posted", "tags": ["feed:u1", "feed:u7"], "at": 1763700000.0}

Only ``tags`` matters here (``type`` and the rest are for people reading the channel). A
malformed event is logged and counted, never raised. The subscriber reconnects with
exponential backoff when Redis goes away; since pub/sub does not replay what was missed,
``on_connected`` is told whether this is a reconnection, so the cache can drop what it holds
locally.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import msgspec

from tailor.cache.metrics import CacheMetrics
from tailor.errors import TailorError

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger("tailor.cache")

MAX_TAGS = 10_000
MAX_TAG_LENGTH = 200


class MalformedEvent(TailorError):
    """The message on the channel is not an invalidation event."""


class ChangeEvent(msgspec.Struct):
    type: str
    tags: list[str]


_decode = msgspec.json.Decoder(ChangeEvent).decode


def parse_event(raw: bytes | str) -> ChangeEvent:
    """
    >>> parse_event(b'{"type": "track.posted", "tags": ["feed:u1"]}').tags
    ['feed:u1']
    """
    try:
        event = _decode(raw)
    except msgspec.DecodeError as exc:
        raise MalformedEvent(str(exc)) from exc
    if len(event.tags) > MAX_TAGS:
        raise MalformedEvent(f"more than {MAX_TAGS} tags")
    if any(not t or len(t) > MAX_TAG_LENGTH for t in event.tags):
        raise MalformedEvent("a tag is empty or too long")
    return event


Purge = Callable[[list[str]], Awaitable[None]]
Connected = Callable[[bool], Awaitable[None]]


class InvalidationSubscriber:
    """The long-running task that applies change events to this instance's cache.

    :meth:`run` (a background job of the BFF) needs Redis; :meth:`apply`, what it does with
    each message on the channel, does not:

    >>> import asyncio
    >>> from prometheus_client import CollectorRegistry
    >>> from redis.asyncio import Redis
    >>> purged = []
    >>> async def purge(tags: list[str]) -> None:
    ...     purged.extend(tags)
    >>> sub = InvalidationSubscriber(lambda: Redis.from_url("redis://127.0.0.1:6379/0"),
    ...                              "tailor:invalidate", purge, CacheMetrics(CollectorRegistry()))
    >>> asyncio.run(sub.apply(b'{"type": "track.posted", "tags": ["feed:u1"]}'))
    >>> purged
    ['feed:u1']
    """

    def __init__(
        self,
        redis: Callable[[], Redis],
        channel: str,
        purge: Purge,
        metrics: CacheMetrics,
        *,
        on_connected: Connected | None = None,
        backoff_s: tuple[float, float] = (0.05, 2.0),
    ) -> None:
        self._redis = redis
        self._channel = channel
        self._purge = purge
        self._m = metrics
        self._on_connected = on_connected
        self._backoff = backoff_s
        self.connected = asyncio.Event()

    async def run(self) -> None:
        delay, ceiling = self._backoff
        first = True
        while True:
            try:
                await self._listen(reconnect=not first)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # redis-py's tree, OSError, TimeoutError: all mean "gone"
                self.connected.clear()
                self._m.subscriber.labels("lost").inc()
                log.warning("invalidation channel lost (%s); retrying in %.2f s",
                            type(exc).__name__, delay)  # fmt: skip
                first = False
                # Full jitter, so many instances do not reconnect in lockstep.
                await asyncio.sleep(delay * (0.5 + random.random() / 2))
                delay = min(delay * 2, ceiling)
                continue
            delay = self._backoff[0]

    async def _listen(self, *, reconnect: bool) -> None:
        pubsub = self._redis().pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(self._channel)
            self._m.subscriber.labels("connected").inc()
            if self._on_connected is not None:
                await self._on_connected(reconnect)
            self.connected.set()
            while True:
                # A bounded wait (not listen()): the client's socket timeout would otherwise
                # end a quiet subscription.
                message = await pubsub.get_message(timeout=1.0)
                if message is not None and message.get("type") == "message":
                    await self.apply(message.get("data"))
        finally:
            self.connected.clear()
            try:
                await pubsub.aclose()  # type: ignore[no-untyped-call, unused-ignore]
            except Exception:  # closing a dead connection may fail again; nothing to do
                log.debug("closing the pubsub failed", exc_info=True)

    async def apply(self, data: Any) -> None:
        """Apply one message; a malformed one is logged and counted, never raised."""
        try:
            if not isinstance(data, bytes | str):
                raise MalformedEvent("not a text message")
            event = parse_event(data)
        except MalformedEvent as exc:
            self._m.events.labels("malformed").inc()
            log.warning("malformed invalidation event ignored: %s", str(exc)[:200])
            return
        try:
            await self._purge(event.tags)
        except Exception:
            self._m.events.labels("failed").inc()
            log.warning("purging tags failed", exc_info=True)
            return
        self._m.events.labels("applied").inc()
