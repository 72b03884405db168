"""Settling a plan is one decision, even when the event loop stalls across the deadline: a
required part lost or the deadline passed gives its 502/504, and every part of an outcome has a
value. The stall is simulated with a blocking ``time.sleep`` inside the loop, as a process
frozen by the kernel (SIGSTOP, a long GC pause, a blocking call) would hold it: on resume, the
deadline timer and the required part's answer become ready in the same loop iteration."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from harness import assert_problem, call

from tailor import AggregateBody, Part, Plan, PlanResult, Request, Response, aggregate
from tailor.aggregate import UnknownPart
from tailor.upstream import MockTransport
from tailor.upstream.mock import Responder
from tailor.upstream.transport import UpstreamRequest, UpstreamResponse

DEADLINE_S = 0.2
STALL_S = DEADLINE_S + 0.3  # well past the deadline and its timer's margin


class MeBody(AggregateBody, kw_only=True):
    me: dict[str, Any]


def _shape_reading_me(outcome: PlanResult) -> MeBody:
    return MeBody(me=outcome["me"])


def _freeze_the_loop() -> None:
    time.sleep(STALL_S)  # blocks the loop itself: every timer falls due at once


async def _me_failing_soon(request: UpstreamRequest) -> UpstreamResponse:
    await asyncio.sleep(0.01)  # its answer is due during the stall
    return UpstreamResponse(200, {}, b"<html>")  # not JSON: me is lost as malformed


async def _me_never_answering(request: UpstreamRequest) -> UpstreamResponse:
    await asyncio.Event().wait()
    raise AssertionError("never reached")


def _stalling_upstream(me: Responder) -> MockTransport:
    """``/me`` answers with ``me``; ``/stall`` freezes the loop from the moment ``/me`` is in
    flight until well past the deadline."""
    me_in_flight = asyncio.Event()

    async def answer(request: UpstreamRequest) -> UpstreamResponse:
        if request.url.endswith("/me"):
            me_in_flight.set()
            return await me(request)
        await me_in_flight.wait()
        _freeze_the_loop()
        return UpstreamResponse(200, {}, b"{}")

    return MockTransport(answer)


def _bff(make_bff, me: Responder):
    """A screen reading ``me`` (required) beside an optional part that freezes the loop."""
    plan = Plan(
        (
            Part("me", "svc", "/me", into=dict, timeout_s=5.0),
            Part("stall", "svc", "/stall", into=dict, required=False, fallback={}, timeout_s=5.0),
        ),
        DEADLINE_S,
    )
    bff = make_bff({"upstreams": {"svc": "http://svc.invalid"}}, transport=_stalling_upstream(me))

    @bff.get("/screen", auth=False, plan=plan)
    async def screen(request: Request) -> Response:
        return await aggregate(request, _shape_reading_me)

    return bff


async def test_a_required_part_failing_in_the_turn_a_stalled_loop_passes_the_deadline_is_a_502(
    make_bff,
) -> None:
    problem = assert_problem(await call(_bff(make_bff, _me_failing_soon), "GET", "/screen"), 502)
    assert "malformed" in problem["detail"]  # me's own failure, not a missing key


async def test_a_required_part_in_flight_when_a_stalled_loop_passes_the_deadline_is_a_504(
    make_bff,
) -> None:
    assert_problem(await call(_bff(make_bff, _me_never_answering), "GET", "/screen"), 504)


def test_reading_a_name_that_is_not_in_the_plan_is_an_unknown_part_naming_the_parts() -> None:
    outcome = PlanResult({"me": {"id": "u1"}, "recs": None}, [])
    with pytest.raises(UnknownPart) as info:
        outcome["mee"]
    assert "'mee'" in str(info.value) and "me, recs" in str(info.value)
