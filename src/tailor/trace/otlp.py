"""OTLP/HTTP protobuf of tailor's spans: a batch encoded in one call of a C module.

Encoding is the exporter's work, on the worker's loop, a batch at a time between requests;
it is also most of what tracing at 100% sampling costs the worker (docs/observability.md).
Written in Python it took ~43k instructions per home (seven spans), three rewrites no
cheaper; building opentelemetry-proto's messages costs more (``python -m
benchmarks.tracing`` measures both). :mod:`tailor.trace._otlp` (``_otlp.c``, built by
``pip install``) writes the same bytes in a few thousand: it reads each span's fields at their
slots, found once here (:func:`_otlp.bind`), and writes the few messages of a trace export by
the field numbers of ``opentelemetry/proto/trace/v1/trace.proto`` and ``common/v1/common.proto``.
The tests decode what it writes with opentelemetry-proto itself.

>>> from tailor.trace.span import Span, SERVER
>>> span = Span("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", "", "GET /v1/home",
...             SERVER, 1, {"http.response.status_code": 200}, end_ns=2)
>>> body = OtlpEncoder("mobile").encode([span])
>>> body[0] == 0x0A, bytes.fromhex(span.span_id) in body  # field 1: the ResourceSpans
(True, True)
"""

from __future__ import annotations

from collections.abc import Sequence

from tailor.trace import _otlp
from tailor.trace.span import AnySpan, PartSpan, ServerSpan, Span

# The slots encode() reads, checked once: a renamed field fails here, at import.
_otlp.bind(Span, PartSpan, ServerSpan)


class OtlpEncoder:
    """Spans of one service as an ``ExportTraceServiceRequest``: a ``Resource`` naming the
    service (``service.name``) and one ``ScopeSpans`` (scope ``tailor``, its ``version``).

    Text that is not valid UTF-8 (a lone surrogate) is written with the bad code points
    replaced; a span whose ids are not hex, or an attribute of another type than str, bool,
    int (int64) or float, raises and loses its batch (counted by the exporter).
    """

    __slots__ = ("_service", "_version")

    def __init__(self, service: str, version: str = "") -> None:
        self._service = service
        self._version = version

    def encode(self, spans: Sequence[AnySpan]) -> bytes:
        return _otlp.encode(spans, self._service, self._version)
