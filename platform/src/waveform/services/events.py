"""Change events: how services tell each other, and every BFF's cache, that data changed.

Two channels, for two jobs:

- **Domain events** on the Redis stream ``waveform:events`` (``XADD``): facts other services
  build their own data from, e.g. the stream service adds a post to followers' feeds when
  tracks announces ``track.posted``. A stream, not pub/sub, because a consumer that was
  briefly away must not lose a post: it reads on from the last id it saw.
- **Change notices** on the pub/sub channel ``tailor:invalidate``: ``{"type", "tags"}`` for
  the BFFs' edge caches, which purge entries carrying any of the tags. Whoever knows which
  users are affected publishes the notice that names them (the stream service knows
  followers, so it names their feeds).

Publishing is best effort: a write that succeeded stays a success when Redis is down (the
caches' TTLs bound how stale a read can get); failures are logged and counted.

    events = Events(args.redis_url, "tracks")
    await events.emit("track.posted", {"track_id": "t9", "owner_id": "u2"})
    await events.notify("track.posted", ["track:t9", "tracks:u2"])

Each domain event carries the W3C ``traceparent`` of the request that emitted it, and its
handler runs in a consumer span of that trace (when the services trace:
:mod:`waveform.services.tracing`).

A consumer that must not miss an event across its own restarts keeps its position in its own
database (:class:`SqliteCursor`) and makes its handler idempotent (an event may be handled
twice: after a crash between handling it and saving the position).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any, Protocol

import msgspec
from opentelemetry import propagate, trace

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger("waveform.events")

DOMAIN_STREAM = "waveform:events"
CHANGES_CHANNEL = "tailor:invalidate"
STREAM_MAXLEN = 100_000

Handler = Callable[[str, dict[str, str]], Awaitable[None]]
#: Where a domain event carries the trace of the request that caused it (W3C, as a header).
TRACE_FIELDS = ("traceparent", "tracestate")
_tracer = trace.get_tracer("waveform.events")


class Cursor(Protocol):
    """Where a consumer stopped reading the domain stream (the last id it handled)."""

    def load(self) -> str | None: ...

    def save(self, last_id: str) -> None: ...


class SqliteCursor:
    """A consumer's position kept in the service's own SQLite database, so a restarted
    service resumes after the last event it handled instead of at the newest one.

    >>> cursor = SqliteCursor(sqlite3.connect(":memory:"), "rights")
    >>> cursor.save("1700000000000-0"); cursor.load()
    '1700000000000-0'
    """

    def __init__(self, conn: sqlite3.Connection, consumer: str) -> None:
        self.conn = conn
        self.consumer = consumer
        conn.execute("CREATE TABLE IF NOT EXISTS event_cursor "
                     "(consumer TEXT PRIMARY KEY, last_id TEXT NOT NULL)")  # fmt: skip

    def load(self) -> str | None:
        row = self.conn.execute(
            "SELECT last_id FROM event_cursor WHERE consumer = ?", (self.consumer,)
        ).fetchone()
        return None if row is None else str(row[0])

    def save(self, last_id: str) -> None:
        self.conn.execute("INSERT INTO event_cursor VALUES (?, ?) ON CONFLICT (consumer) "
                          "DO UPDATE SET last_id = excluded.last_id",
                          (self.consumer, last_id))  # fmt: skip


class Events:
    """A service's link to the event bus; every method is a no-op without a Redis URL.

    >>> Events(None, "tracks").enabled
    False
    """

    def __init__(self, redis_url: str | None, service: str) -> None:
        self.service = service
        self.url = redis_url
        self.failures = 0  # publish attempts that did not reach Redis
        self._redis: Redis | None = None

    @property
    def enabled(self) -> bool:
        return self.url is not None

    def _client(self) -> Redis:
        if self._redis is None:
            from redis.asyncio import Redis

            assert self.url is not None
            # The socket timeout outlasts a blocking XREAD (1 s) by a margin.
            self._redis = Redis.from_url(self.url, socket_connect_timeout=0.5, socket_timeout=3)
        return self._redis

    async def emit(self, type_: str, data: dict[str, str]) -> None:
        """Append a domain event to the stream (best effort)."""
        if not self.enabled:
            return
        fields: dict[Any, Any] = {
            "type": type_,
            "source": self.service,
            "data": msgspec.json.encode(data),
        }
        # The trace of the request that caused it (nothing when tracing is off): its handler
        # runs as part of that trace, in another service, later.
        propagate.inject(fields)
        try:
            await self._client().xadd(DOMAIN_STREAM, fields, maxlen=STREAM_MAXLEN, approximate=True)
        except Exception:  # redis-py's errors, OSError, timeouts: the write itself stands
            self.failures += 1
            log.warning("%s: cannot emit %s", self.service, type_, exc_info=True)

    async def notify(self, type_: str, tags: Iterable[str]) -> None:
        """Tell every BFF's cache which tags changed (best effort)."""
        wanted = sorted(set(tags))
        if not self.enabled or not wanted:
            return
        payload = msgspec.json.encode({"type": type_, "tags": wanted, "at": time.time()})
        try:
            await self._client().publish(CHANGES_CHANNEL, payload)
        except Exception:
            self.failures += 1
            log.warning("%s: cannot publish %s", self.service, type_, exc_info=True)

    async def consume(
        self,
        types: set[str],
        handle: Handler,
        *,
        started: asyncio.Event | None = None,
        cursor: Cursor | None = None,
        stop: asyncio.Event | None = None,
    ) -> None:
        """Read domain events of ``types`` forever, in order, reconnecting with backoff.

        Reading starts after the event ``cursor`` saved last or, without one, after the
        newest event present when this is called (``started`` is set once that position is
        known); after an outage it resumes from the last event handled, so nothing emitted
        meanwhile is lost (up to the stream's length). Each handled event's id is saved to
        ``cursor``, so a restart resumes there too. Setting ``stop`` ends it after the
        current read (within a second): an orderly stop that, unlike cancelling a blocked
        read, leaves the Redis connection in a known state.
        """
        if not self.enabled:
            if started is not None:
                started.set()
            return
        last: str | None = None if cursor is None else cursor.load()
        if last is not None and started is not None:
            started.set()
        delay = 0.05
        while stop is None or not stop.is_set():
            try:
                # redis-py's command stubs type replies loosely; these shapes are fixed.
                redis: Any = self._client()
                if last is None:
                    newest = await redis.xrevrange(DOMAIN_STREAM, count=1)
                    last = newest[0][0].decode() if newest else "0-0"
                    if started is not None:
                        started.set()
                found = await redis.xread({DOMAIN_STREAM: last}, count=100, block=1000)
                delay = 0.05
                for _stream, messages in found or ():
                    for message_id, fields in messages:
                        last = message_id.decode()
                        await self._dispatch(types, handle, fields)
                        if cursor is not None:
                            cursor.save(last)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    # redis-py may turn a cancelled read into its own error: stop anyway.
                    raise asyncio.CancelledError from exc
                log.warning("%s: event stream unavailable (%s); retrying in %.2f s",
                            self.service, type(exc).__name__, delay)  # fmt: skip
                await asyncio.sleep(delay * (0.5 + random.random() / 2))
                delay = min(delay * 2, 2.0)

    async def _dispatch(self, types: set[str], handle: Handler, fields: dict[bytes, bytes]) -> None:
        type_ = fields.get(b"type", b"").decode(errors="replace")
        if type_ not in types:
            return
        try:
            data = msgspec.json.decode(fields.get(b"data", b"{}"), type=dict[str, str])
        except msgspec.DecodeError:
            log.warning("%s: malformed %s event ignored", self.service, type_)
            return
        carrier = {name: fields[name.encode()].decode(errors="replace")
                   for name in TRACE_FIELDS if name.encode() in fields}  # fmt: skip
        try:
            with _tracer.start_as_current_span(
                f"process {type_}",
                context=propagate.extract(carrier),
                kind=trace.SpanKind.CONSUMER,
                attributes={
                    "messaging.system": "redis",
                    "messaging.destination.name": DOMAIN_STREAM,
                },
            ):
                await handle(type_, data)
        except Exception:
            # One bad event must not stop the consumer (nor be retried forever).
            log.exception("%s: handling %s failed", self.service, type_)

    async def aclose(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None

    def lifespan(
        self, types: set[str], handle: Handler, *, cursor: Cursor | None = None
    ) -> Callable[[Any], contextlib.AbstractAsyncContextManager[None]]:
        """A service lifespan that runs :meth:`consume` in the background and starts serving
        only once the read position is fixed (so no event after startup is missed)."""

        @contextlib.asynccontextmanager
        async def lifespan(_: Any) -> AsyncIterator[None]:
            started = asyncio.Event()
            consumer = asyncio.create_task(
                self.consume(types, handle, started=started, cursor=cursor)
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(started.wait(), 3.0)
            try:
                yield
            finally:
                consumer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await consumer
                await self.aclose()

        return lifespan
