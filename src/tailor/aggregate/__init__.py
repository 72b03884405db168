"""The aggregation engine: declare parts, run them in parallel under a deadline, shape the
result, mark what degraded.

    HOME = Plan(parts=(Part("me", "users", "/users/{user_id}", into=UserRecord), ...),
                deadline_s=0.8)

    @bff.get("/v1/home", plan=HOME)
    async def home(request: Request) -> Response:
        return await aggregate(request, shape_home, user_id=request.principal.subject)

The route names its plan once; :func:`aggregate` runs the plan of the request's route.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import msgspec

from tailor.aggregate.engine import Degradation, Engine, PlanResult, run_plan
from tailor.aggregate.plan import BUDGET, NO_FALLBACK, Inputs, Part, Plan, UnknownPart
from tailor.http import JSON_CONTENT_TYPE, Json, Request
from tailor.upstream.deadline import Deadline

DEGRADED_HEADER = "tailor-degraded"


class AggregateBody(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Base of an aggregated response body. ``degraded`` lists the parts that are missing or
    replaced by a fallback; it is absent when the response is complete."""

    degraded: list[Degradation] = msgspec.field(default_factory=list)


_encode = msgspec.json.Encoder().encode


B = TypeVar("B", bound=AggregateBody)


async def aggregate(
    request: Request,
    shape: Callable[[PlanResult], B],
    /,
    **variables: str,
) -> Json[B]:
    """Run the plan of the request's route (``bff.get(..., plan=PLAN)``) with ``variables``
    and answer with ``shape(result)`` as JSON."""
    assert request.engine is not None, "the handler stage sets the engine"
    route = request.route
    if route is None or route.plan is None:
        raise TypeError("aggregate() runs the route's plan: declare it with plan= on the route")
    outcome = await request.engine.run(
        route.plan,
        variables,
        request_id=request.request_id,
        principal=request.principal,
        allowance=request.allowance,
        trace=request.trace,
    )
    body = shape(outcome)
    headers = [JSON_CONTENT_TYPE]
    if outcome.degraded:
        body.degraded = outcome.degraded
        request.degraded = outcome.degraded
        headers.append((DEGRADED_HEADER, ", ".join(_degraded_item(d) for d in outcome.degraded)))
    return Json(200, _encode(body), headers)


def _degraded_item(d: Degradation) -> str:
    # A part served from its last known good value says so: it is there, but not fresh.
    return f"{d.part};reason={d.reason};stale" if d.stale else f"{d.part};reason={d.reason}"


__all__ = [
    "BUDGET",
    "DEGRADED_HEADER",
    "NO_FALLBACK",
    "AggregateBody",
    "Deadline",
    "Degradation",
    "Engine",
    "Inputs",
    "Part",
    "Plan",
    "PlanResult",
    "UnknownPart",
    "aggregate",
    "run_plan",
]
