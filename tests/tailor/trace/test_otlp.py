"""tailor's own OTLP encoding, decoded with opentelemetry-proto (the reference schema)."""

from __future__ import annotations

from otlp_receiver import decode
from tailor.trace.otlp import OtlpEncoder
from tailor.trace.span import CLIENT, SERVER, PartSpan, ServerSpan, Span

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def _span(**changes: object) -> Span:
    span = Span(TRACE, "00f067aa0ba902b7", "", "GET /v1/home", SERVER, 1_000, {}, end_ns=2_000)
    for name, value in changes.items():
        setattr(span, name, value)
    return span


def test_a_span_decodes_with_its_ids_name_kind_and_times() -> None:
    [got] = decode(OtlpEncoder("mobile").encode([_span(parent_id="a" * 16)]))
    assert (got.service, got.trace_id, got.span_id, got.parent_id) == (
        "mobile",
        TRACE,
        "00f067aa0ba902b7",
        "a" * 16,
    )
    assert (got.name, got.kind, got.start_ns, got.end_ns) == ("GET /v1/home", SERVER, 1000, 2000)
    assert got.error is None


def test_attributes_keep_their_types() -> None:
    attributes = {"s": "x" * 200, "i": 1, "b": True, "f": 0.5, "neg": -3, "big": 2**40}
    [got] = decode(OtlpEncoder("m").encode([_span(attributes=attributes)]))
    assert got.attributes == attributes
    assert type(got.attributes["b"]) is bool and type(got.attributes["i"]) is int


def test_an_int_and_a_bool_of_equal_value_are_encoded_apart() -> None:
    encoder = OtlpEncoder("m")
    first, second = decode(
        encoder.encode([_span(attributes={"k": True}), _span(attributes={"k": 1})])
    )
    assert type(first.attributes["k"]) is bool and type(second.attributes["k"]) is int


def test_a_failed_span_carries_the_error_status_and_its_message() -> None:
    [got] = decode(OtlpEncoder("m").encode([_span(kind=CLIENT, error="timeout")]))
    assert got.error == "timeout"


def test_many_spans_go_in_one_export() -> None:
    spans = [_span(span_id=f"{n:016x}", attributes={"n": n}) for n in range(1, 301)]
    got = decode(OtlpEncoder("m").encode(spans))
    assert [s.attributes["n"] for s in got] == list(range(1, 301))


def test_spans_of_several_traces_in_one_export_keep_their_own_trace_and_parent() -> None:
    other = "a" * 32
    spans = [
        _span(span_id="1" * 16, parent_id="2" * 16),
        _span(trace_id=other, span_id="3" * 16),
        _span(span_id="4" * 16, parent_id="2" * 16),
        _span(trace_id=other, span_id="5" * 16, parent_id="3" * 16),
    ]
    got = decode(OtlpEncoder("m").encode(spans))
    assert [(s.trace_id, s.span_id, s.parent_id) for s in got] == [
        (TRACE, "1" * 16, "2" * 16),
        (other, "3" * 16, ""),
        (TRACE, "4" * 16, "2" * 16),
        (other, "5" * 16, "3" * 16),
    ]


def _part(**changes: object) -> PartSpan:
    part = PartSpan(TRACE, "1" * 16, "2" * 16, "me", "users", 1_000, end_ns=3_000)
    for name, value in changes.items():
        setattr(part, name, value)
    return part


def test_a_part_span_decodes_with_its_ids_name_kind_times_and_outcome() -> None:
    part = _part(deadline_ms=800, attempts=2, breaker="half_open", status=200, hedged=True)
    [got] = decode(OtlpEncoder("mobile").encode([part]))
    assert (got.trace_id, got.span_id, got.parent_id) == (TRACE, "1" * 16, "2" * 16)
    assert (got.name, got.kind, got.start_ns, got.end_ns) == ("me", CLIENT, 1_000, 3_000)
    assert got.attributes == {
        "bff.part": "me",
        "peer.service": "users",
        "bff.deadline_ms": 800,
        "bff.attempts": 2,
        "bff.breaker": "half_open",
        "http.response.status_code": 200,
        "bff.hedged": True,
    }
    assert got.error is None


def test_a_part_span_carries_only_what_it_was_told() -> None:
    [got] = decode(OtlpEncoder("m").encode([_part(error="dependency")]))
    assert got.attributes == {"bff.part": "me", "peer.service": "users"}
    assert got.error == "dependency"


def test_a_part_answered_from_its_last_good_value_says_so() -> None:
    [got] = decode(OtlpEncoder("m").encode([_part(deadline_ms=5, cache="last_good")]))
    assert got.attributes["bff.cache"] == "last_good"
    assert got.attributes["bff.deadline_ms"] == 5


def test_each_part_span_decodes_as_its_attributes_say() -> None:
    encoder = OtlpEncoder("m")
    parts = [
        _part(deadline_ms=ms, attempts=n, breaker=b, status=st)
        for ms, n, b, st in ((800, 1, "closed", 200), (0, 3, "open", 503), (800, 1, "closed", 404))
    ]
    parts.append(_part(name="recs", upstream="recs", span_id="3" * 16))
    parts.append(_part(name="me", upstream="people"))  # the same name, another upstream
    got = decode(encoder.encode(parts) + encoder.encode(parts))  # twice: from the caches too
    assert [s.attributes for s in got] == [p.attributes for p in parts] * 2


def test_a_request_s_parts_and_server_span_keep_their_parents() -> None:
    server = _span(span_id="2" * 16, parent_id="9" * 16)
    got = decode(OtlpEncoder("m").encode([_part(), _part(span_id="3" * 16), server]))
    assert [(s.span_id, s.parent_id) for s in got] == [
        ("1" * 16, "2" * 16),
        ("3" * 16, "2" * 16),
        ("2" * 16, "9" * 16),
    ]


def test_a_server_span_decodes_with_its_route_status_and_outcome() -> None:
    server = ServerSpan(TRACE, "2" * 16, "9" * 16, 1_000, end_ns=5_000, method="GET",
                        route="/v1/home", status=503, cache="miss", degraded="recs,me",
                        error="UpstreamTimeout", tracestate="k=v")  # fmt: skip
    plain = ServerSpan(TRACE, "3" * 16, "", 1_000, end_ns=2_000, method="POST", route="/v1/home",
                       status=200)  # fmt: skip
    encoder = OtlpEncoder("m")
    got = decode(encoder.encode([server, plain]) + encoder.encode([server, plain]))
    assert [s.attributes for s in got] == [server.attributes, plain.attributes] * 2
    assert [(s.name, s.kind, s.error) for s in got[:2]] == [
        ("GET /v1/home", SERVER, "UpstreamTimeout"),
        ("POST /v1/home", SERVER, None),
    ]
    assert got[0].attributes["bff.degraded"] == "recs,me"


def test_a_server_span_carries_the_caller_s_tracestate() -> None:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    server = ServerSpan(TRACE, "2" * 16, "9" * 16, 1, end_ns=2, method="GET", route="/",
                        status=200, tracestate="vendor=abc")  # fmt: skip
    body = OtlpEncoder("m").encode([server])
    [span] = ExportTraceServiceRequest.FromString(body).resource_spans[0].scope_spans[0].spans
    assert span.trace_state == "vendor=abc"
