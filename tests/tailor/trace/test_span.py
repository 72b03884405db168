"""Span ids (random, of their width, never repeated across batches or by a forked child) and
the hand-over of a request's spans to the exporter."""

from __future__ import annotations

import os

from tailor.trace.context import parse_traceparent
from tailor.trace.span import CLIENT, IdStream, RequestTrace, Tracer


def test_ids_are_hex_of_their_width_and_distinct_across_batches() -> None:
    ids = IdStream(16, batch=8)
    got = [ids.next() for _ in range(100)]
    assert all(len(i) == 16 and int(i, 16) >= 0 for i in got)
    assert len(set(got)) == 100


def test_a_forked_child_does_not_hand_out_its_parent_s_next_ids() -> None:
    ids = IdStream(16, batch=64)
    ids.next()  # a batch read before the fork
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its next id and leave at once
        os.write(write, ids.next().encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        child = pipe.read()
    os.waitpid(pid, 0)
    assert len(child) == 16 and child != ids.next()


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


def test_a_sampled_part_s_call_names_the_part_s_span_and_carries_the_tracestate() -> None:
    state = "vendor=abc"
    trace = Tracer(1.0, print).start(f"00-{'a' * 32}-{'b' * 16}-01", state)
    part = trace.child("me", "svc")
    assert part is not None
    assert trace.inward(part) == (
        ("traceparent", f"00-{'a' * 32}-{part.span_id}-01"),
        ("tracestate", state),
    )
