"""The exporter: batches to a real OTLP/HTTP receiver on loopback, a bounded queue that
drops and counts, a collector that is down or silent costs the caller nothing but counts;
and parent-based ratio sampling."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Callable, Iterator

import pytest

from otlp_receiver import OtlpReceiver
from tailor.trace.export import SpanExporter
from tailor.trace.otlp import OtlpEncoder
from tailor.trace.span import SERVER, Span, Tracer
from tailor.upstream.mock import MockTransport
from tailor.upstream.transport import UpstreamRequest, UpstreamResponse


def _span(n: int = 1) -> Span:
    return Span("4bf92f3577b34da6a3ce929d0e0e4736", f"{n:016x}", "", "x", SERVER, 1, {}, end_ns=2)


async def _until(condition: Callable[[], bool], within_s: float = 10.0) -> None:
    deadline = time.monotonic() + within_s
    while not condition():
        assert time.monotonic() < deadline, "not within the time"
        await asyncio.sleep(0.005)


@pytest.fixture(scope="module")
def receiver() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as r:
        yield r


async def test_queued_spans_reach_the_collector_and_are_counted(receiver: OtlpReceiver) -> None:
    exporter = SpanExporter(receiver.endpoint, OtlpEncoder("exp"), batch_size=2)
    for n in range(1, 6):
        exporter.submit([_span(n)])
    await exporter.flush()
    got = [s.span_id for s in receiver.spans if s.service == "exp"]
    assert got == [f"{n:016x}" for n in range(1, 6)]
    assert exporter.exported.value == 5


async def test_the_background_job_sends_a_full_batch_before_the_interval(
    receiver: OtlpReceiver,
) -> None:
    exporter = SpanExporter(receiver.endpoint, OtlpEncoder("full"), batch_size=3, interval_s=60)
    job = asyncio.ensure_future(exporter.run())
    try:
        await asyncio.sleep(0)  # the job is waiting for its interval (a minute)
        for n in range(1, 4):
            exporter.submit([_span(n)])
        await _until(lambda: exporter.exported.value == 3)
    finally:
        job.cancel()
    assert sum(s.service == "full" for s in receiver.spans) == 3


async def test_at_shutdown_the_queued_spans_are_sent(receiver: OtlpReceiver) -> None:
    exporter = SpanExporter(receiver.endpoint, OtlpEncoder("last"), interval_s=60)
    job = asyncio.ensure_future(exporter.run())
    await asyncio.sleep(0)
    exporter.submit([_span(1), _span(2)])
    job.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await job
    sent = [s.span_id for s in receiver.spans if s.service == "last"]
    assert sent == [_span(1).span_id, _span(2).span_id]
    assert exporter.exported.value == 2


async def test_at_shutdown_the_collectors_connection_is_closed() -> None:
    closed: list[bool] = []

    class Collector(MockTransport):  # the transport seam: records its closing
        async def aclose(self) -> None:
            closed.append(True)

    async def accept(request: UpstreamRequest) -> UpstreamResponse:
        return UpstreamResponse(200, {}, b"")

    exporter = SpanExporter("http://127.0.0.1:9/v1/traces", OtlpEncoder("x"), batch_size=1,
                            transport=Collector(accept))  # fmt: skip
    job = asyncio.ensure_future(exporter.run())
    await asyncio.sleep(0)
    exporter.submit([_span(1)])
    await _until(lambda: exporter.exported.value == 1)
    assert closed == []  # kept alive while the BFF runs
    job.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await job
    assert closed == [True]


def test_a_full_queue_drops_the_span_and_counts_it() -> None:
    exporter = SpanExporter("http://127.0.0.1:9/v1/traces", OtlpEncoder("x"), queue_size=3)
    for n in range(1, 11):
        exporter.submit([_span(n)])
    assert exporter.queued == 3
    assert exporter.dropped_full.value == 7


async def test_a_refused_export_drops_the_batch_and_counts_it() -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    exporter = SpanExporter(f"http://127.0.0.1:{port}/v1/traces", OtlpEncoder("x"))
    for n in range(1, 5):
        exporter.submit([_span(n)])
    await exporter.flush()
    assert exporter.dropped_failed.value == 4 and exporter.exported.value == 0


async def test_a_batch_that_cannot_be_encoded_is_dropped_counted_and_the_next_goes(
    receiver: OtlpReceiver,
) -> None:
    exporter = SpanExporter(receiver.endpoint, OtlpEncoder("x"), batch_size=1)
    bad = _span(1)
    bad.attributes = {"list": [1]}  # type: ignore[dict-item]  # not an OTLP attribute value
    exporter.submit([bad])
    exporter.submit([_span(2)])
    await exporter.flush()
    assert exporter.dropped_failed.value == 1 and exporter.exported.value == 1


async def test_submitting_never_waits_for_a_silent_collector() -> None:
    with socket.socket() as silent:  # accepts connections (backlog) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        exporter = SpanExporter(
            f"http://127.0.0.1:{port}/v1/traces", OtlpEncoder("x"), queue_size=100,
            batch_size=1, timeout_s=5.0,
        )  # fmt: skip
        job = asyncio.ensure_future(exporter.run())
        try:
            await asyncio.sleep(0)
            exporter.submit([_span(0)])  # a full batch: the job takes it and POSTs it
            await _until(lambda: exporter.queued == 0)  # taken: the job awaits its answer
            started = time.perf_counter()
            for n in range(1, 1001):
                exporter.submit([_span(n)])
                if n % 100 == 0:
                    await asyncio.sleep(0)  # the loop runs on, the job's POST still unanswered
            elapsed = time.perf_counter() - started
        finally:
            job.cancel()
    # The job is stuck on its POST for 5 s; the callers were not.
    assert elapsed < 1.0
    assert exporter.queued == 100 and exporter.dropped_full.value == 1000 - 100


def test_a_new_trace_is_sampled_by_the_ratio_of_its_id() -> None:
    never, always = Tracer(0.0, print), Tracer(1.0, print)
    assert not any(never.start(None, None).sampled for _ in range(200))
    assert all(always.start(None, None).sampled for _ in range(200))
    half = Tracer(0.5, print)
    assert half.sampled("0" * 16 + "7" + "f" * 15) and not half.sampled("0" * 16 + "8" + "0" * 15)


def test_the_callers_sampling_decision_is_kept_whatever_the_ratio() -> None:
    trace, span = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    assert Tracer(0.0, print).start(f"00-{trace}-{span}-01", None).sampled
    assert not Tracer(1.0, print).start(f"00-{trace}-{span}-00", None).sampled
