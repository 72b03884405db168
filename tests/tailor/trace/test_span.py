"""Ids (random, of their width, never repeated across pools or by a forked child), the
hand-over of a request's spans to the exporter, and the Part and server span records."""

from __future__ import annotations

import gc
import os
import time

import pytest

from tailor.trace._otlp import random_id, start_part, unsampled_trace
from tailor.trace.context import parse_traceparent
from tailor.trace.otlp import OtlpEncoder
from tailor.trace.span import CLIENT, SERVER, PartSpan, RequestTrace, ServerSpan, Tracer


def test_ids_are_lower_case_hex_of_their_width_and_distinct_across_pools() -> None:
    got = [random_id(16) for _ in range(2000)]  # 16 kB of random bytes: several pools
    assert all(len(i) == 16 and i == i.lower() and int(i, 16) >= 0 for i in got)
    assert len(set(got)) == 2000
    assert len(random_id(32)) == 32


@pytest.mark.parametrize("digits", [0, 3, -2, 66])
def test_an_id_of_no_whole_bytes_or_over_32_bytes_is_refused(digits: int) -> None:
    with pytest.raises(ValueError, match="random_id"):
        random_id(digits)


def test_a_forked_child_does_not_hand_out_its_parent_s_next_ids() -> None:
    random_id(16)  # a pool read before the fork
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its next id and leave at once
        os.write(write, random_id(16).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        child = pipe.read()
    os.waitpid(pid, 0)
    assert len(child) == 16 and child != random_id(16)


def _trace(handed: list[list[str]]) -> RequestTrace:
    tracer = Tracer(
        1.0, lambda spans: handed.append([s.name if s.kind == CLIENT else "server" for s in spans])
    )
    return tracer.start(None, None)


def test_a_request_s_ended_parts_go_with_its_server_span_in_one_hand_over() -> None:
    handed: list[list[str]] = []
    trace = _trace(handed)
    for name in ("me", "recs"):
        part = trace.child(name, "svc")
        assert part is not None
        trace.end(part)
    assert handed == []
    assert trace.span is not None
    trace.end(trace.span)
    assert handed == [["me", "recs", "server"]]


def test_a_part_still_running_when_the_server_span_ends_goes_alone_when_it_ends() -> None:
    handed: list[list[str]] = []
    trace = _trace(handed)
    late = trace.child("recs", "svc")
    assert late is not None and trace.span is not None
    trace.end(trace.span)
    assert handed == [["server"]] and trace.closed
    trace.end(late)
    assert handed == [["server"], ["recs"]] and late.end_ns > 0


def test_a_new_unsampled_trace_tells_every_inward_call_the_same_unsampled_parent() -> None:
    trace = Tracer(0.0, print).start(None, None)
    assert trace.child("me", "svc") is None
    [(name, value)] = trace.inward()
    assert name == "traceparent" and value == f"00-{trace.trace_id}-{trace.span_id}-00"
    assert parse_traceparent(value) == (trace.trace_id, trace.span_id, False)
    assert trace.inward() == trace.inward(None) == ((name, value),)


def test_an_unsampled_caller_s_trace_carries_its_parent_and_tracestate_on_every_call() -> None:
    state = "vendor=abc"
    trace = Tracer(1.0, print).start(f"00-{'a' * 32}-{'b' * 16}-00", state)
    expected = (("traceparent", f"00-{'a' * 32}-{'b' * 16}-00"), ("tracestate", state))
    assert trace.unsampled == trace.inward() == expected


def test_an_unsampled_trace_made_in_one_call_keeps_a_given_trace_id_and_names_a_new_span() -> None:
    tracer = Tracer(0.0, print)
    trace = unsampled_trace(RequestTrace, tracer, "a" * 32)
    assert (trace.tracer, trace.trace_id, trace.tracestate, trace.span) == (
        tracer,
        "a" * 32,
        "",
        None,
    )
    assert len(trace.span_id) == 16
    assert trace.unsampled == (("traceparent", f"00-{'a' * 32}-{trace.span_id}-00"),)


def test_an_unsampled_trace_made_in_one_call_without_a_trace_id_gets_a_new_one() -> None:
    first, second = (unsampled_trace(RequestTrace, Tracer(0.0, print), None) for _ in range(2))
    assert len(first.trace_id) == 32 and first.trace_id != second.trace_id


def test_a_trace_its_id_does_not_sample_is_unsampled_under_that_id() -> None:
    tracer = Tracer(0.5, print)
    traces = [tracer.start(None, None) for _ in range(64)]
    unsampled = [t for t in traces if not t.sampled]
    assert unsampled and all(not tracer.sampled(t.trace_id) for t in unsampled)
    assert all(t.unsampled[0][1].startswith(f"00-{t.trace_id}-") for t in unsampled)


def test_a_sampled_trace_has_no_unsampled_headers() -> None:
    assert Tracer(1.0, print).start(None, None).unsampled == ()


def test_a_sampled_part_s_call_names_the_part_s_span_and_carries_the_tracestate() -> None:
    state = "vendor=abc"
    trace = Tracer(1.0, print).start(f"00-{'a' * 32}-{'b' * 16}-01", state)
    part = trace.child("me", "svc")
    assert part is not None
    assert trace.inward(part) == (
        ("traceparent", f"00-{'a' * 32}-{part.span_id}-01"),
        ("tracestate", state),
    )


def test_a_part_started_in_one_call_carries_its_call_s_headers_and_its_start_time() -> None:
    before = time.time_ns()
    part = start_part("a" * 32, "b" * 16, "c" * 16, "me", "users", "")
    after = time.time_ns()
    assert part.headers == (("traceparent", f"00-{'a' * 32}-{'b' * 16}-01"),)
    assert before <= part.start_ns <= after
    assert (part.parent_id, part.name, part.upstream, part.end_ns, part.deadline_ms) == (
        "c" * 16,
        "me",
        "users",
        0,
        -1,
    )


def test_a_part_started_in_one_call_passes_a_tracestate_on() -> None:
    part = start_part("a" * 32, "b" * 16, "c" * 16, "me", "users", "vendor=abc")
    assert part.headers == (
        ("traceparent", f"00-{'a' * 32}-{'b' * 16}-01"),
        ("tracestate", "vendor=abc"),
    )


def test_a_part_span_s_headers_are_not_among_its_attributes() -> None:
    part = start_part("a" * 32, "b" * 16, "c" * 16, "me", "users", "vendor=abc")
    assert part.attributes == {"bff.part": "me", "peer.service": "users"}


def test_a_part_span_takes_its_values_by_position_or_name_and_defaults_the_rest() -> None:
    by_position = PartSpan("a" * 32, "b" * 16, "c" * 16, "me", "users", 5, 9, 800, 2)
    by_name = PartSpan(
        "a" * 32, "b" * 16, "c" * 16, "me", "users", start_ns=5, end_ns=9, deadline_ms=800,
        attempts=2,
    )  # fmt: skip
    for span in (by_position, by_name):
        assert (span.name, span.upstream, span.start_ns, span.end_ns) == ("me", "users", 5, 9)
        assert (span.deadline_ms, span.attempts, span.breaker, span.status) == (800, 2, "", 0)
        assert (span.hedged, span.cache, span.error, span.kind) == (False, "", "", CLIENT)


def test_a_server_span_is_named_by_its_method_and_route() -> None:
    span = ServerSpan("a" * 32, "b" * 16, "", 1)
    span.method, span.route, span.status = "POST", "/v1/plays", 201
    assert (span.name, span.kind, span.end_ns, span.tracestate) == ("POST /v1/plays", SERVER, 0, "")
    assert span.attributes == {
        "http.request.method": "POST",
        "http.route": "/v1/plays",
        "http.response.status_code": 201,
    }


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (("a" * 32, "b" * 16, "c" * 16, "me", "users"), {}),  # start_ns missing
        (("a" * 32, "b" * 16, "c" * 16, "me", "users", 1), {"colour": "red"}),
        (("a" * 32, "b" * 16, "c" * 16, "me", "users", 1), {"name": "again"}),
        (tuple(range(16)), {}),  # one more than its fields
    ],
)
def test_a_span_made_with_a_missing_unknown_or_repeated_value_is_refused(
    args: tuple[object, ...], names: dict[str, object]
) -> None:
    with pytest.raises(TypeError):
        PartSpan(*args, **names)  # type: ignore[arg-type]


def test_part_and_server_spans_are_not_tracked_by_the_collector() -> None:
    # They hold str, int and bool only: no cycle to find, nothing for gc to count per request.
    assert not gc.is_tracked(PartSpan("a" * 32, "b" * 16, "c" * 16, "me", "users", 1))
    assert not gc.is_tracked(ServerSpan("a" * 32, "b" * 16, "", 1))


def test_a_span_with_a_deleted_field_is_refused_by_its_readers_and_the_encoder() -> None:
    span = PartSpan("a" * 32, "b" * 16, "c" * 16, "me", "users", 1)
    del span.status
    for read in (
        lambda: span.attributes,
        lambda: repr(span),
        lambda: OtlpEncoder("m").encode([span]),
    ):
        with pytest.raises(AttributeError):
            read()
