"""The exporter: batches to a real OTLP/HTTP receiver on loopback, a bounded queue that
drops and counts, a collector that is down or silent costs the caller nothing but counts;
and parent-based ratio sampling."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from otlp_receiver import OtlpReceiver
from tailor.trace.export import SpanExporter
from tailor.trace.otlp import OtlpEncoder
from tailor.trace.span import SERVER, Span, Tracer


def _span(n: int = 1) -> Span:
    return Span("4bf92f3577b34da6a3ce929d0e0e4736", f"{n:016x}", "", "x", SERVER, 1, {}, end_ns=2)


@pytest.fixture(scope="module")
def receiver() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as r:
        yield r


def test_queued_spans_reach_the_collector_and_are_counted(receiver: OtlpReceiver) -> None:
    exporter = SpanExporter(receiver.endpoint, OtlpEncoder("exp"), batch_size=2)
    for n in range(1, 6):
        exporter.submit([_span(n)])
    assert exporter.flush()
    got = [s.span_id for s in receiver.spans if s.service == "exp"]
    assert got == [f"{n:016x}" for n in range(1, 6)]
    assert exporter.exported.value == 5
    exporter.close()


def test_a_full_queue_drops_the_span_and_counts_it() -> None:
    exporter = SpanExporter("http://127.0.0.1:9/v1/traces", OtlpEncoder("x"), queue_size=3,
                            start=False)  # fmt: skip
    for n in range(1, 11):
        exporter.submit([_span(n)])
    assert exporter.queued == 3
    assert exporter.dropped_full.value == 7


def test_a_refused_export_drops_the_batch_and_counts_it() -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    exporter = SpanExporter(f"http://127.0.0.1:{port}/v1/traces", OtlpEncoder("x"))
    for n in range(1, 5):
        exporter.submit([_span(n)])
    assert exporter.flush()
    assert exporter.dropped_failed.value == 4 and exporter.exported.value == 0
    exporter.close()


def test_submitting_never_waits_for_a_silent_collector() -> None:
    with socket.socket() as silent:  # accepts connections (backlog) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        exporter = SpanExporter(
            f"http://127.0.0.1:{port}/v1/traces", OtlpEncoder("x"), queue_size=100,
            batch_size=1, timeout_s=5.0,
        )  # fmt: skip
        started = time.perf_counter()
        for n in range(1, 1001):
            exporter.submit([_span(n)])
        elapsed = time.perf_counter() - started
        # The thread is stuck on the first POST for 5 s; the callers were not.
        assert elapsed < 1.0
        # The queue holds 100 and the thread took one batch (of 1) before it stuck.
        assert exporter.dropped_full.value >= 1000 - 100 - 1
        exporter.close(timeout_s=0)


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
