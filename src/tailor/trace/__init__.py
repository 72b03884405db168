"""Distributed tracing at the edge, cheap enough for every home request.

    context   W3C traceparent / tracestate: parsing (a bad header is no parent, never an
              error) and writing
    span      PartSpan and ServerSpan (records of _otlp), Span (a msgspec struct, any other
              span), Tracer (ids, parent-based ratio sampling) and the per-request
              RequestTrace the engine starts Part spans from
    otlp      the OTLP/HTTP protobuf encoding of a batch of spans
    _otlp     C: the Part and server span records and the encoder (_otlp.c)
    export    the bounded queue and the loop job that sends batches, counting what it drops

The ``trace`` stage (:mod:`tailor.stages.trace`) puts them together; docs/observability.md
is the guide.
"""
