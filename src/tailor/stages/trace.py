"""The server span: every request joins (or starts) a W3C trace.

A valid ``traceparent`` is continued, anything else starts a new trace: a bad header never
fails a request. The request's :class:`~tailor.trace.span.RequestTrace` (``request.trace``)
is what the engine starts each Part's client span from and what every inward call's
``traceparent`` names. When the trace is sampled, the server span ends on the way back with
the route, the status, the cache's answer and the parts that degraded (in the observe stage's
hook, :func:`tailor.trace.span.answered`); then it goes to the exporter's queue
(:mod:`tailor.trace.export`). Off (not in the chain) without
``tracing.endpoint``.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

from tailor.chain import Chain, Outcome
from tailor.http import Request
from tailor.trace.export import SpanExporter
from tailor.trace.otlp import OtlpEncoder
from tailor.trace.span import Tracer

if TYPE_CHECKING:
    from tailor.pipeline import BuildContext


class TraceStage:
    name = "trace"

    def __init__(self, tracer: Tracer) -> None:
        self.tracer = tracer

    @classmethod
    def build(cls, ctx: BuildContext) -> TraceStage | None:
        settings = ctx.config.tracing
        if settings.endpoint is None:
            return None
        exporter = SpanExporter(
            settings.endpoint,
            OtlpEncoder(ctx.config.name, _tailor_version()),
            queue_size=settings.queue_size,
            batch_size=settings.batch_size,
            interval_s=settings.export_interval_s,
            timeout_s=settings.export_timeout_s,
            registry=ctx.metrics.registry,
        )
        ctx.background.append(exporter.run)
        return cls(Tracer(settings.sample_ratio, exporter.submit))

    def wrap(self, next_handler: Chain) -> Chain:
        start = self.tracer.start

        def trace(request: Request) -> Outcome:
            headers = request.headers
            parent = headers.get("traceparent")
            # A tracestate is read only with a traceparent: without one it is not kept.
            request.trace = start(parent, headers.get("tracestate") if parent else None)
            # The server span ends in the observe stage's hook on the way back
            # (tailor.trace.span.answered): that stage is outermost and in the chain whenever
            # tracing is, so this one keeps no frame of its own across the request.
            return next_handler(request)

        return trace


def _tailor_version() -> str:
    try:
        return version("tailor")
    except PackageNotFoundError:  # run from a source tree
        return ""
