"""Metrics for every answer: count, latency and 5xx per route template; and the end of a
sampled request's server span (the trace stage's), from the same hook on the way back."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from tailor.chain import Chain, Outcome, then
from tailor.http import Request, Response
from tailor.observe.metrics import Metrics
from tailor.trace.span import answered

if TYPE_CHECKING:
    from tailor.pipeline import BuildContext

UNMATCHED = "<unmatched>"
#: Methods counted under their own name. A client may send any token as a method (to a path
#: no route matches): those count as "OTHER", so no client can grow the series without bound.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class ObserveStage:
    name = "observe"

    def __init__(self, metrics: Metrics | None) -> None:
        self._m = metrics

    @classmethod
    def build(cls, ctx: BuildContext) -> ObserveStage | None:
        # The trace stage relies on this stage to end its server span (one hook on the way
        # back, not a frame of each): with tracing on it is in the chain, metrics or not.
        if ctx.config.metrics.enabled:
            return cls(ctx.metrics)
        return cls(None) if ctx.config.tracing.endpoint is not None else None

    def wrap(self, next_handler: Chain) -> Chain:
        m = self._m
        if m is None:

            def end_span(response: Response, request: Request) -> Response:
                trace = request.trace
                if trace is not None and trace.span is not None:
                    route = request.route.template if request.route is not None else UNMATCHED
                    answered(trace, request, route, response.status)
                return response

            def traced(request: Request) -> Outcome:
                return then(next_handler(request), end_span, request)

            return traced
        known, series = m.requests.known, m.requests.series
        clock = time.perf_counter

        def record(response: Response, request: Request) -> Response:
            route = request.route.template if request.route is not None else UNMATCHED
            status = response.status
            method = request.method if request.method in METHODS else "OTHER"
            found = known.get((route, method, status)) or series(route, method, status)
            found.record(clock() - request.received_at)
            if request.degraded:
                for d in request.degraded:
                    m.degraded_parts.labels(route, d.part, d.reason).inc()
            if status >= 500:
                m.errors.labels(route, request.error_cause or str(status)).inc()
            trace = request.trace
            if trace is not None and trace.span is not None:
                answered(trace, request, route, status)
            return response

        def observe(request: Request) -> Outcome:
            return then(next_handler(request), record, request)

        return observe
