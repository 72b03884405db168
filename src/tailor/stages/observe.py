"""Metrics for every answer: count, latency and 5xx per route template."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from tailor.chain import Chain, Outcome, then
from tailor.http import Request, Response
from tailor.observe.metrics import Metrics

if TYPE_CHECKING:
    from tailor.pipeline import BuildContext

UNMATCHED = "<unmatched>"
#: Methods counted under their own name. A client may send any token as a method (to a path
#: no route matches): those count as "OTHER", so no client can grow the series without bound.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class ObserveStage:
    name = "observe"

    def __init__(self, metrics: Metrics) -> None:
        self._m = metrics

    @classmethod
    def build(cls, ctx: BuildContext) -> ObserveStage | None:
        return cls(ctx.metrics) if ctx.config.metrics.enabled else None

    def wrap(self, next_handler: Chain) -> Chain:
        m = self._m
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
            return response

        def observe(request: Request) -> Outcome:
            return then(next_handler(request), record, request)

        return observe
