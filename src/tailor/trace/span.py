"""tailor's own spans: small records, written on the hot path, encoded elsewhere.

The OpenTelemetry SDK costs a home request more than the 5% tailor allows for tracing
(docs/observability.md), so a BFF records only what its spans need: ids as hex strings,
nanosecond times and the values each layer writes. The exporter turns them into OTLP.

A :class:`Tracer` (one per BFF) starts a :class:`RequestTrace` per request: the trace it
continues (a valid ``traceparent``) or a new one, and the sampling decision, parent-based:
a caller's decision is kept, a new trace is sampled when the low 64 bits of its id fall
under ``sample_ratio`` (the rule of OpenTelemetry's ``TraceIdRatioBased``, so any service
deciding on the same id decides alike).

>>> spans = []
>>> tracer = Tracer(1.0, spans.extend)
>>> trace = tracer.start("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "")
>>> trace.trace_id, trace.span.parent_id
('4bf92f3577b34da6a3ce929d0e0e4736', '00f067aa0ba902b7')
>>> part = trace.child("me", "users")
>>> trace.inward(part)[0][1] == f"00-{trace.trace_id}-{part.span_id}-01"
True
>>> trace.span.method, trace.span.route = "GET", "/v1/home"
>>> trace.end(part); trace.end(trace.span); [s.name for s in spans]  # one hand-over
['me', 'GET /v1/home']
"""

from __future__ import annotations

from collections.abc import Callable
from time import time_ns
from typing import TYPE_CHECKING, Any

import msgspec

# A Part's client span and a request's server span are written on the hot path, some thirty
# stores a home: records of tailor's C module, whose slots the interpreter stores into at an
# offset (a msgspec struct's own setattr costs ~3.5x that), each made in one call (their
# docstrings, with examples, in _otlp.c). The encoder reads the same slots.
from tailor.trace._otlp import PartSpan as PartSpan
from tailor.trace._otlp import ServerSpan as ServerSpan

# Ids and a call's trace headers: one C call each (random_id reads the kernel's random bytes a
# pool at a time; a forked child drops its parent's pool).
from tailor.trace._otlp import random_id, start_part, trace_headers, unsampled_trace
from tailor.trace.context import parse_traceparent, valid_tracestate

if TYPE_CHECKING:
    from tailor.http import Request

#: OTLP's SpanKind values for the two kinds tailor records.
SERVER, CLIENT = 2, 3
AttributeValue = str | int | float | bool


class Span(msgspec.Struct, gc=False):
    """One finished (``end_ns`` set) or running span. ``error`` non-empty marks it failed,
    with that message. Written by one request's code only; handed to the exporter when it
    ends, and never touched after that."""

    trace_id: str
    span_id: str
    parent_id: str
    name: str
    kind: int
    start_ns: int
    attributes: dict[str, AttributeValue]
    end_ns: int = 0
    error: str = ""
    tracestate: str = ""


AnySpan = Span | PartSpan | ServerSpan


class Tracer:
    """One BFF's trace decisions: ids, sampling, and where ended spans go (``submit``: a
    request's spans, handed over together)."""

    __slots__ = ("_bound", "_ratio", "submit")

    def __init__(self, sample_ratio: float, submit: Callable[[list[AnySpan]], None]) -> None:
        self._bound = int(sample_ratio * (1 << 64))
        # 0: never, 1: always, else ask the id: the two usual settings decide without it.
        self._ratio = 0 if self._bound <= 0 else 1 if self._bound >= 1 << 64 else -1
        self.submit = submit

    def sampled(self, trace_id: str) -> bool:
        """The ratio decision for a new trace, from the low 64 bits of its id."""
        return int(trace_id[16:], 16) < self._bound

    def start(self, header: str | None, state: str | None) -> RequestTrace:
        """The trace of a request carrying these ``traceparent`` / ``tracestate`` values."""
        parent = parse_traceparent(header) if header else None
        if parent is None:
            # Not sampled, nothing is recorded: inward calls name a fresh span of this hop as
            # their parent; the ids, their header and the trace made in one C call.
            ratio = self._ratio
            if ratio == 0:
                return unsampled_trace(RequestTrace, self, None)
            trace_id = random_id(32)
            if ratio != 1 and not self.sampled(trace_id):
                return unsampled_trace(RequestTrace, self, trace_id)
            parent_id, tracestate = "", ""
        else:
            trace_id, parent_id, sampled = parent
            tracestate = valid_tracestate(state) if state else ""
            if not sampled:
                # Inward calls name the caller's span as their parent, as if this hop were
                # not there.
                headers = trace_headers(trace_id, parent_id, False, tracestate)
                return RequestTrace(self, trace_id, parent_id, tracestate, None, headers)
        span_id = random_id(16)
        # Positional, tracestate last: a record made from positional arguments alone takes
        # the C module's fast path (no argument tuple, no keyword lookup).
        span = ServerSpan(
            trace_id, span_id, parent_id, time_ns(), 0, "", "", 0, "", "", "", tracestate
        )
        return RequestTrace(self, trace_id, span_id, tracestate, span)


class RequestTrace(msgspec.Struct, gc=False):
    """One request's place in its trace (``request.trace``). ``span`` is the server span, or
    None when the trace is not sampled: then nothing is recorded, and every inward call
    carries the same unsampled ``traceparent`` so the services do not record either.

    A msgspec struct: made by one C call, no ``__init__`` frame, on every request; not
    tracked by the collector (nothing it holds refers back to it, so it is in no cycle).
    """

    tracer: Tracer
    trace_id: str
    span_id: str
    tracestate: str
    span: ServerSpan | None
    #: Not sampled: the trace headers every inward call carries, made with the trace (the
    #: engine reads them once per plan). Sampled: empty.
    unsampled: tuple[tuple[str, str], ...] = ()
    # Sampled: the headers of a call that is not a Part's, made on first use.
    _headers: tuple[tuple[str, str], ...] | None = None
    # The Part spans started (sampled only): those ended when the server span ends go to the
    # exporter with it, one hand-over per request; a part still running then goes alone when
    # it ends (``closed``).
    _parts: list[AnySpan] | None = None
    closed: bool = False

    @property
    def sampled(self) -> bool:
        return self.span is not None

    def child(self, name: str, upstream: str) -> PartSpan | None:
        """A client span for one inward call (a Part), or None when not sampled."""
        if self.span is None:
            return None
        # One C call: the record, started now, and its call's headers (``span.headers``).
        span = start_part(
            self.trace_id,
            random_id(16),
            self.span_id,
            name,
            upstream,
            self.tracestate,
        )
        parts = self._parts
        if parts is None:
            self._parts = [span]
        else:
            parts.append(span)
        return span

    def inward(self, span: PartSpan | None = None) -> tuple[tuple[str, str], ...]:
        """The trace headers of an inward call made as ``span`` (made with it: the engine reads
        ``span.headers`` itself); without one (an unsampled trace, or a call that is not a
        Part), the call's parent is the request's span."""
        if span is None:
            headers = self._headers or self.unsampled
            if not headers:
                headers = self._headers = trace_headers(
                    self.trace_id, self.span_id, self.span is not None, self.tracestate
                )
            return headers
        return span.headers

    def end(self, span: AnySpan) -> None:
        """Close ``span`` now. The server span goes to the exporter with the part spans
        ended before it; a part ending after it goes alone. (A part ending before it needs
        only its ``end_ns`` set: the engine does that inline, and calls this once
        ``closed``.)"""
        span.end_ns = time_ns()
        if span is self.span:
            ended: list[AnySpan] = [p for p in self._parts or () if p.end_ns]
            ended.append(span)
            self.closed = True
            self.tracer.submit(ended)
        elif self.closed:
            self.tracer.submit([span])


def answered(trace: RequestTrace, request: Request, route: str, status: int) -> None:
    """End a sampled request's server span as its answer goes out: the route (``route``, its
    template or the observe stage's name for none), the status, the cache's answer, the parts
    that degraded and, for a 5xx, why. Run by the observe stage's hook on every answer (a
    refusal too), so the trace stage needs no frame of its own on the way back."""
    span = trace.span
    assert span is not None
    span.method = request.method
    span.route = route
    span.status = status
    if request.cache_outcome:
        span.cache = request.cache_outcome
    if request.degraded:
        span.degraded = ",".join(d.part for d in request.degraded)
    if status >= 500:
        span.error = request.error_cause or str(status)
    trace.end(span)


def failed(span: AnySpan, exc: BaseException) -> None:
    """Mark ``span`` failed by ``exc`` unless a reason was set already (never the exception's
    text: it may quote what a service said)."""
    if not span.error:
        reason: Any = getattr(exc, "reason", None)
        span.error = reason if isinstance(reason, str) else type(exc).__name__
