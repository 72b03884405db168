"""tailor's OTLP encoding (the C module behind OtlpEncoder), decoded with opentelemetry-proto
(the reference schema), and byte for byte what the Python encoder it replaced wrote."""

from __future__ import annotations

import otlp_reference
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from otlp_receiver import decode
from tailor.trace.otlp import OtlpEncoder
from tailor.trace.span import CLIENT, SERVER, AnySpan, PartSpan, ServerSpan, Span

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
    got = decode(encoder.encode(parts) + encoder.encode(parts))  # two exports in one body
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


def _home(n: int) -> list[AnySpan]:
    """A request's spans as the stages record them: six parts and the server span."""
    trace, server = f"{n:032x}", f"{n:016x}"
    names = ("me", "stream", "recs", "playlists", "people", "tracks")
    told = {"deadline_ms": 800, "attempts": 1, "breaker": "closed", "status": 200}
    spans: list[AnySpan] = [
        _part(trace_id=trace, span_id=f"{n:08x}{k:08x}", parent_id=server, name=name, **told)
        for k, name in enumerate(names)
    ]
    spans.append(ServerSpan(trace, server, "", 1, end_ns=30, method="GET", route="/v1/home",
                            status=200))  # fmt: skip
    return spans


def test_the_encoding_is_byte_for_byte_the_python_encoder_s() -> None:
    odd: list[AnySpan] = [
        _part(deadline_ms=-1, attempts=3, hedged=True, cache="last_good", error="timeout"),
        _part(name="x" * 300, upstream="é" * 100, status=-1),
        ServerSpan(TRACE, "3" * 16, "9" * 16, 5, end_ns=9, method="GET", route="/v1/ü",
                   status=503, cache="hit", degraded="a,b", error="503", tracestate="k=v"),
        _span(attributes={"s": "v", "b": False, "i": -(2**63), "f": -1.5, "z": 0}, error="x",
              tracestate="t=1"),
    ]  # fmt: skip
    spans = [*_home(1), *_home(2), *odd]
    for version in ("", "0.1.0"):
        ours = OtlpEncoder("mobile", version).encode(spans)
        assert ours == otlp_reference.OtlpEncoder("mobile", version).encode(spans)


def test_the_resource_names_the_service_and_the_scope_the_version() -> None:
    body = OtlpEncoder("mobile", "1.2.3").encode([_span()])
    [resource_spans] = ExportTraceServiceRequest.FromString(body).resource_spans
    assert {a.key: a.value.string_value for a in resource_spans.resource.attributes} == {
        "service.name": "mobile",
        "telemetry.sdk.name": "tailor",
    }
    scope = resource_spans.scope_spans[0].scope
    assert (scope.name, scope.version) == ("tailor", "1.2.3")


def test_no_spans_make_an_export_of_none() -> None:
    assert decode(OtlpEncoder("m").encode([])) == []


def test_huge_strings_decode_whole() -> None:
    # Lengths of three and four varint bytes, in a span, its attributes and their values.
    value = "v" * 3_000_000
    [got] = decode(OtlpEncoder("m").encode([_span(name="n" * 20_000, attributes={"big": value})]))
    assert got.name == "n" * 20_000 and got.attributes == {"big": value}
    [part] = decode(OtlpEncoder("m").encode([_part(name="p" * 70_000, error="e" * 200_000)]))
    assert part.attributes["bff.part"] == "p" * 70_000 and part.error == "e" * 200_000


def test_non_ascii_text_decodes_as_written() -> None:
    server = ServerSpan(TRACE, "2" * 16, "", 1, end_ns=2, method="GET", route="/v1/café/☕",
                        status=200, degraded="récits")  # fmt: skip
    spans: list[AnySpan] = [_span(name="naïve ☕", attributes={"clé": "valeur ✓"}), server]
    got = decode(OtlpEncoder("mobile ✓").encode(spans))
    assert (got[0].service, got[0].name, got[0].attributes) == (
        "mobile ✓",
        "naïve ☕",
        {"clé": "valeur ✓"},
    )
    assert got[1].name == "GET /v1/café/☕" and got[1].attributes["bff.degraded"] == "récits"


def test_text_that_is_not_utf8_is_written_with_its_bad_code_points_replaced() -> None:
    [got] = decode(OtlpEncoder("m").encode([_span(name="a\udc80b", error="x\ud800")]))
    assert (got.name, got.error) == ("a?b", "x?")


def test_empty_fields_decode_as_empty() -> None:
    [got] = decode(OtlpEncoder("").encode([_span(name="", attributes={"": ""})]))
    assert (got.service, got.name, got.parent_id, got.attributes) == ("", "", "", {"": ""})


def test_the_extreme_times_and_ints_decode_as_they_were() -> None:
    ints = {"min": -(2**63), "max": 2**63 - 1, "zero": 0}
    [got] = decode(OtlpEncoder("m").encode([_span(start_ns=0, end_ns=2**64 - 1, attributes=ints)]))
    assert (got.start_ns, got.end_ns, got.attributes) == (0, 2**64 - 1, ints)


@pytest.mark.parametrize(
    ("span", "error"),
    [
        (_span(span_id="not hex at all!!"), ValueError),
        (_span(trace_id="abc"), ValueError),
        (_span(attributes={"list": [1]}), TypeError),
        (_span(attributes={"huge": 2**63}), OverflowError),
        (_span(end_ns=-1), OverflowError),
        (_part(attempts="1"), TypeError),
    ],
)
def test_a_span_that_cannot_be_encoded_raises_and_writes_nothing(
    span: AnySpan, error: type[Exception]
) -> None:
    with pytest.raises(error):
        OtlpEncoder("m").encode([_span(), span])


def test_only_tailor_s_span_classes_are_encoded() -> None:
    class Other(Span):
        pass

    with pytest.raises(TypeError, match="not a span"):
        OtlpEncoder("m").encode([Other(TRACE, "1" * 16, "", "x", SERVER, 1, {})])
