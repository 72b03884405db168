"""Metrics for every answer: count, latency and 5xx per route template."""

from __future__ import annotations

import time
from typing import Any

from tailor.http import Request, Response
from tailor.observe.metrics import Metrics
from tailor.pipeline import BuildContext
from tailor.routing import Handler

UNMATCHED = "<unmatched>"


class ObserveStage:
    def __init__(self, metrics: Metrics) -> None:
        self._m = metrics

    @classmethod
    def build(cls, ctx: BuildContext) -> ObserveStage | None:
        return cls(ctx.metrics) if ctx.config.metrics.enabled else None

    def wrap(self, next_handler: Handler) -> Handler:
        m = self._m
        # Labelled series, looked up once per (route, method, status) and kept: labels() takes
        # a lock and builds a key each time. The key space is bounded (templates, methods,
        # statuses), so the dict is too.
        series: dict[tuple[str, str, int], tuple[Any, Any]] = {}

        async def observe(request: Request) -> Response:
            response = await next_handler(request)
            route = request.route.template if request.route is not None else UNMATCHED
            status = response.status
            key = (route, request.method, status)
            found = series.get(key)
            if found is None:
                found = series[key] = (
                    m.requests.labels(route, request.method, str(status)),
                    m.latency.labels(route),
                )
            found[0].inc()
            found[1].observe(time.perf_counter() - request.received_at)
            degraded = request.state.get("degraded")
            if degraded:
                for d in degraded:
                    m.degraded_parts.labels(route, d.part, d.reason).inc()
            if status >= 500:
                m.errors.labels(route, request.state.get("error_cause", str(status))).inc()
            return response

        return observe
