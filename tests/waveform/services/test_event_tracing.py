"""A domain event carries the trace of the request that emitted it through Redis, and its
handler runs in a consumer span of that trace (the stock SDK, in memory)."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from waveform.services.events import Events, SqliteCursor


@pytest.fixture(scope="module")
def finished() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)  # once per process: the events module's tracer follows
    yield exporter
    exporter.clear()


async def test_an_events_handler_runs_in_the_trace_that_emitted_it(
    redis_url: str, finished: InMemorySpanExporter
) -> None:
    producer, consumer = Events(redis_url, "producer"), Events(redis_url, "consumer")
    cursor = SqliteCursor(sqlite3.connect(":memory:"), f"c-{uuid.uuid4().hex}")
    tracer = trace.get_tracer("test")
    with tracer.start_as_current_span("earlier"):
        await producer.emit("test.traced", {"n": "0"})  # position only: consumed from here
    cursor.save(await _newest_id(producer))
    with tracer.start_as_current_span("POST /tracks") as request_span:
        await producer.emit("test.traced", {"n": "1"})
    seen = asyncio.Event()
    in_trace: list[int] = []

    async def handle(_: str, data: dict[str, str]) -> None:
        in_trace.append(trace.get_current_span().get_span_context().trace_id)
        seen.set()

    stop = asyncio.Event()
    task = asyncio.create_task(consumer.consume({"test.traced"}, handle, cursor=cursor, stop=stop))
    try:
        await asyncio.wait_for(seen.wait(), 5)
    finally:
        stop.set()
        await asyncio.wait({task}, timeout=5)
        await consumer.aclose()
        await producer.aclose()
    expected = request_span.get_span_context()
    assert in_trace == [expected.trace_id]
    [consumed] = [s for s in finished.get_finished_spans() if s.name == "process test.traced"]
    assert consumed.parent is not None and consumed.parent.span_id == expected.span_id
    assert consumed.kind is trace.SpanKind.CONSUMER


async def _newest_id(events: Events) -> str:
    from redis.asyncio import Redis

    client = Redis.from_url(events.url or "")
    try:
        newest = await client.xrevrange("waveform:events", count=1)
        return str(newest[0][0].decode())
    finally:
        await client.aclose()
