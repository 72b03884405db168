"""The domain-event consumer against a real redis-server: a position kept in SQLite makes a
restarted consumer resume after the last event it handled, not at the newest one."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid

from waveform.services.events import Events, SqliteCursor


async def _consume_until(events: Events, cursor: SqliteCursor, seen: list[str],
                         count: int) -> None:  # fmt: skip
    done = asyncio.Event()

    async def handle(_: str, data: dict[str, str]) -> None:
        seen.append(data["n"])
        if len(seen) >= count:
            done.set()

    stop = asyncio.Event()
    task = asyncio.create_task(events.consume({"test.event"}, handle, cursor=cursor, stop=stop))
    try:
        await asyncio.wait_for(done.wait(), 5)
    finally:
        stop.set()  # an orderly stop: the consumer leaves after its current read
        # Never wait_for() the consumer: on a timeout it would cancel and then wait for a task
        # whose blocking XREAD may swallow the cancel, hanging the run. Closing its connection
        # ends the read instead.
        finished, _ = await asyncio.wait({task}, timeout=5)
        if not finished:
            await events.aclose()
            finished, _ = await asyncio.wait({task}, timeout=5)
        assert finished, "the consumer did not stop"


async def test_a_consumer_with_a_saved_position_resumes_after_its_last_event(
    redis_url: str,
) -> None:
    producer = Events(redis_url, "producer")
    consumer = Events(redis_url, "consumer")
    cursor = SqliteCursor(sqlite3.connect(":memory:"), f"c-{uuid.uuid4().hex}")
    await producer.emit("test.event", {"n": "0"})  # before the first start: position only
    cursor.save(await _newest_id(producer))
    await producer.emit("test.event", {"n": "1"})
    seen: list[str] = []
    await _consume_until(consumer, cursor, seen, 1)
    # Stopped: what is emitted now must still be handled, exactly once, after a restart.
    await producer.emit("test.event", {"n": "2"})
    await producer.emit("test.event", {"n": "3"})
    await _consume_until(consumer, cursor, seen, 3)
    assert seen == ["1", "2", "3"]
    await producer.aclose()
    await consumer.aclose()


async def _newest_id(events: Events) -> str:
    from redis.asyncio import Redis

    assert events.url is not None
    redis = Redis.from_url(events.url)
    try:
        newest = await redis.xrevrange("waveform:events", count=1)
        return str(newest[0][0].decode())
    finally:
        await redis.aclose()
