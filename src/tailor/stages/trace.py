"""The server span: every request joins (or starts) a W3C trace.

A valid ``traceparent`` is continued, anything else starts a new trace: a bad header never
fails a request. The request's :class:`~tailor.trace.span.RequestTrace` (``request.trace``)
is what the engine starts each Part's client span from and what every inward call's
``traceparent`` names. When the trace is sampled, the server span ends on the way back with
the route, the status, the cache's answer and the parts that degraded; then it goes to the
exporter's queue (:mod:`tailor.trace.export`). Off (not in the chain) without
``tracing.endpoint``.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

from tailor.chain import Chain, Outcome, then
from tailor.http import Request, Response
from tailor.stages.observe import UNMATCHED
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
            joined = request.trace = start(headers.get("traceparent"), headers.get("tracestate"))
            if joined.span is None:
                return next_handler(request)
            return then(next_handler(request), _finish, request)

        return trace


def _finish(response: Response, request: Request) -> Response:
    trace = request.trace
    assert trace is not None and trace.span is not None
    span = trace.span
    span.method = request.method
    span.route = request.route.template if request.route is not None else UNMATCHED
    span.status = status = response.status
    if request.cache_outcome:
        span.cache = request.cache_outcome
    if request.degraded:
        span.degraded = ",".join(d.part for d in request.degraded)
    if status >= 500:
        span.error = request.error_cause or str(status)
    trace.end(span)
    return response


def _tailor_version() -> str:
    try:
        return version("tailor")
    except PackageNotFoundError:  # run from a source tree
        return ""
