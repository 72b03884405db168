"""The aggregation engine over real HTTP: parallel fan-out, dependencies, deadlines and their
propagation, partial degradation, and failure of required parts."""

from __future__ import annotations

import asyncio
import gc
import time
from typing import Any

import msgspec
import pytest
from harness import assert_problem, body_json, call
from prometheus_client import CollectorRegistry
from upstreams import closed_port

from tailor import AggregateBody, Part, Plan, PlanResult, Request, Response, aggregate
from tailor.aggregate import BUDGET, Engine, run_plan
from tailor.errors import ConfigError, UpstreamStatusError
from tailor.resilience.allowance import CallAllowance
from tailor.resilience.runtime import Resilience
from tailor.resilience.settings import ResilienceSettings
from tailor.upstream import MockTransport, ServiceRegistry, UpstreamClient
from tailor.upstream.transport import UpstreamRequest, UpstreamResponse


class Echo(AggregateBody, kw_only=True):
    values: dict[str, Any] = msgspec.field(default_factory=dict)


class User(msgspec.Struct):
    id: str
    name: str


def _shape(outcome: PlanResult) -> Echo:
    return Echo(values=dict(outcome.values))


def _bff(make_bff, plan: Plan, upstreams: dict[str, str], **variables: str):
    bff = make_bff({"upstreams": upstreams})

    @bff.get("/screen", auth=False, plan=plan)
    async def screen(request: Request) -> Response:
        return await aggregate(request, _shape, **variables)

    return bff


async def _timed(bff, path: str = "/screen") -> tuple[Response, float]:
    started = time.monotonic()
    response = await call(bff, "GET", path)
    return response, time.monotonic() - started


async def test_independent_parts_run_in_parallel(make_bff, upstream) -> None:
    for name in "abcd":
        upstream.script("GET", f"/{name}", json={"part": name}, delay=0.1)
    plan = Plan(tuple(Part(n, "svc", f"/{n}", into=dict) for n in "abcd"), deadline_s=2.0)
    bff = _bff(make_bff, plan, {"svc": upstream.url})
    await call(bff, "GET", "/nope")  # warm up: build the chain and client outside the timing
    response, elapsed = await _timed(bff)
    assert response.status == 200
    assert body_json(response)["values"] == {n: {"part": n} for n in "abcd"}
    assert upstream.max_in_flight == 4  # all four were in flight at once
    assert elapsed < 0.25  # generous: serial would take 0.4 s


async def test_dependent_part_gets_the_needed_result_and_starts_after_it(
    make_bff, upstream
) -> None:
    upstream.script("GET", "/users/u1", json={"id": "u1", "track": "t9"}, delay=0.05)
    upstream.script("GET", "/tracks/t9", json={"title": "song"})
    plan = Plan(
        (
            Part(
                "track",
                "svc",
                lambda i: f"/tracks/{i['me']['track']}",
                into=dict,
                params=lambda i: {"owner": i["me"]["id"]},
                needs=("me",),
            ),
            Part("me", "svc", "/users/{user_id}", into=dict),
        )
    )
    response = await call(
        _bff(make_bff, plan, {"svc": upstream.url}, user_id="u1"), "GET", "/screen"
    )
    assert body_json(response)["values"]["track"] == {"title": "song"}
    [me] = upstream.received("/users/u1")
    [track] = upstream.received("/tracks/t9")
    assert track.query == {"owner": "u1"}
    assert me.finished is not None and track.started >= me.finished


async def test_path_variables_are_encoded_as_one_segment(make_bff, upstream) -> None:
    plan = Plan((Part("u", "svc", "/users/{user_id}", into=dict, required=False, fallback=None),))
    await call(
        _bff(make_bff, plan, {"svc": upstream.url}, user_id="../admin?x=1"), "GET", "/screen"
    )
    [seen] = upstream.received()
    assert seen.path == "/users/../admin?x=1"  # decoded by the server: one segment, no query
    assert seen.query == {}


async def test_optional_part_slower_than_its_timeout_degrades_within_the_deadline(
    make_bff, upstream
) -> None:
    upstream.script("GET", "/fast", json={"ok": True})
    upstream.script("GET", "/slow", json={"late": True}, delay=2.0)
    plan = Plan(
        (
            Part("fast", "svc", "/fast", into=dict),
            Part("slow", "svc", "/slow", into=dict, required=False, timeout_s=0.1),
        ),
        deadline_s=0.5,
    )
    response, elapsed = await _timed(_bff(make_bff, plan, {"svc": upstream.url}))
    assert response.status == 200
    body = body_json(response)
    assert body["degraded"] == [{"part": "slow", "reason": "timeout"}]
    assert body["values"] == {"fast": {"ok": True}, "slow": None}
    assert response.header("tailor-degraded") == "slow;reason=timeout"
    assert elapsed < 0.5 + 0.2


async def test_complete_response_has_no_degraded_marker(make_bff, upstream) -> None:
    upstream.script("GET", "/a", json={})
    plan = Plan((Part("a", "svc", "/a", into=dict, required=False, fallback={}),))
    response = await call(_bff(make_bff, plan, {"svc": upstream.url}), "GET", "/screen")
    assert "degraded" not in body_json(response)
    assert response.header("tailor-degraded") is None


async def test_failed_optional_part_uses_its_fallback(make_bff, upstream) -> None:
    upstream.script("GET", "/recs", status=500, json={})
    plan = Plan((Part("recs", "svc", "/recs", into=dict, required=False, fallback={"items": []}),))
    response = await call(_bff(make_bff, plan, {"svc": upstream.url}), "GET", "/screen")
    assert response.status == 200
    body = body_json(response)
    assert body["values"] == {"recs": {"items": []}}
    assert body["degraded"] == [{"part": "recs", "reason": "status"}]


class RecsBody(AggregateBody, kw_only=True):
    recs: dict[str, Any] | None


def _shape_reading_recs(outcome: PlanResult) -> RecsBody:
    return RecsBody(recs=outcome["recs"])  # indexes the part whether or not it was lost


def _bff_reading_recs(make_bff, plan: Plan, upstream_url: str):
    bff = make_bff({"upstreams": {"svc": upstream_url}})

    @bff.get("/screen", auth=False, plan=plan)
    async def screen(request: Request) -> Response:
        return await aggregate(request, _shape_reading_recs)

    return bff


async def test_shape_reading_a_failed_optional_part_without_fallback_gets_none_and_a_200(
    make_bff, upstream
) -> None:
    upstream.script("GET", "/recs", status=500, json={})
    plan = Plan((Part("recs", "svc", "/recs", into=dict, required=False),))
    response = await call(_bff_reading_recs(make_bff, plan, upstream.url), "GET", "/screen")
    assert response.status == 200
    body = body_json(response)
    assert body["recs"] is None
    assert body["degraded"] == [{"part": "recs", "reason": "status"}]
    assert response.header("tailor-degraded") == "recs;reason=status"


async def test_optional_part_without_fallback_outliving_the_deadline_reads_as_none(
    make_bff, upstream
) -> None:
    upstream.script("GET", "/recs", json={"items": [1]}, delay=1.0)
    plan = Plan((Part("recs", "svc", "/recs", into=dict, required=False, timeout_s=5.0),),
                deadline_s=0.2)  # fmt: skip
    response = await call(_bff_reading_recs(make_bff, plan, upstream.url), "GET", "/screen")
    assert response.status == 200
    body = body_json(response)
    assert body["recs"] is None
    assert body["degraded"] == [{"part": "recs", "reason": "timeout"}]


async def test_part_needing_a_lost_optional_part_degrades_as_dependency(make_bff, upstream) -> None:
    upstream.script("GET", "/a", status=500, json={})
    plan = Plan(
        (
            Part("a", "svc", "/a", into=dict, required=False),
            Part("b", "svc", "/b", into=dict, required=False, needs=("a",), fallback=[]),
        )
    )
    response = await call(_bff(make_bff, plan, {"svc": upstream.url}), "GET", "/screen")
    assert body_json(response)["degraded"] == [
        {"part": "a", "reason": "status"},
        {"part": "b", "reason": "dependency"},
    ]
    assert upstream.received("/b") == []


async def test_required_part_answering_500_is_a_502_problem(make_bff, upstream) -> None:
    upstream.script("GET", "/a", status=500, json={})
    plan = Plan((Part("a", "svc", "/a", into=dict),))
    assert_problem(await call(_bff(make_bff, plan, {"svc": upstream.url}), "GET", "/screen"), 502)


async def test_required_part_with_connection_refused_is_a_502_problem(make_bff) -> None:
    plan = Plan((Part("a", "svc", "/a", into=dict),))
    bff = _bff(make_bff, plan, {"svc": f"http://127.0.0.1:{closed_port()}"})
    problem = assert_problem(await call(bff, "GET", "/screen"), 502)
    assert "unavailable" in problem["detail"]


async def test_required_part_timing_out_is_a_504_problem(make_bff, upstream) -> None:
    upstream.script("GET", "/a", json={}, delay=2.0)
    plan = Plan((Part("a", "svc", "/a", into=dict, timeout_s=0.1),), deadline_s=1.0)
    response, elapsed = await _timed(_bff(make_bff, plan, {"svc": upstream.url}))
    assert_problem(response, 504)
    assert elapsed < 1.0


async def test_required_part_outliving_the_endpoint_deadline_is_a_504_problem(
    make_bff, upstream
) -> None:
    upstream.script("GET", "/a", json={}, delay=2.0)
    plan = Plan((Part("a", "svc", "/a", into=dict, timeout_s=5.0),), deadline_s=0.2)
    response, elapsed = await _timed(_bff(make_bff, plan, {"svc": upstream.url}))
    assert_problem(response, 504)
    assert elapsed < 1.0


async def test_malformed_json_on_a_required_part_is_a_502_problem(make_bff, upstream) -> None:
    upstream.script("GET", "/a", body=b'{"id": "u1", "name": ')
    plan = Plan((Part("a", "svc", "/a", into=User),))
    problem = assert_problem(
        await call(_bff(make_bff, plan, {"svc": upstream.url}), "GET", "/screen"), 502
    )
    assert "malformed" in problem["detail"]


async def test_unexpected_shape_on_a_required_part_is_a_502_problem(make_bff, upstream) -> None:
    upstream.script("GET", "/a", json={"id": "u1", "name": 7})
    plan = Plan((Part("a", "svc", "/a", into=User),))
    assert_problem(await call(_bff(make_bff, plan, {"svc": upstream.url}), "GET", "/screen"), 502)


async def test_malformed_json_on_an_optional_part_degrades_as_malformed(make_bff, upstream) -> None:
    upstream.script("GET", "/a", body=b"<html>oops</html>", content_type="text/html")
    plan = Plan((Part("a", "svc", "/a", into=User, required=False, fallback=None),))
    response = await call(_bff(make_bff, plan, {"svc": upstream.url}), "GET", "/screen")
    assert response.status == 200
    assert body_json(response)["degraded"] == [{"part": "a", "reason": "malformed"}]


async def test_typed_part_keeps_only_the_consumed_fields(make_bff, upstream) -> None:
    upstream.script("GET", "/a", json={"id": "u1", "name": "Ann", "email": "ann@example.com"})
    plan = Plan((Part("a", "svc", "/a", into=User),))
    response = await call(_bff(make_bff, plan, {"svc": upstream.url}), "GET", "/screen")
    assert body_json(response)["values"] == {"a": {"id": "u1", "name": "Ann"}}


async def test_deadline_header_never_exceeds_the_part_timeout_or_the_remaining_budget(
    make_bff, upstream
) -> None:
    upstream.script("GET", "/a", json={}, delay=0.2)
    upstream.script("GET", "/b", json={})
    upstream.script("GET", "/c", json={})
    plan = Plan(
        (
            Part("a", "svc", "/a", into=dict, timeout_s=0.5),
            Part("b", "svc", "/b", into=dict, timeout_s=0.3),
            Part("c", "svc", "/c", into=dict, timeout_s=1.0, needs=("a",)),
        ),
        deadline_s=0.6,
    )
    response = await call(_bff(make_bff, plan, {"svc": upstream.url}), "GET", "/screen")
    assert response.status == 200
    ms = {r.path: int(r.headers["x-deadline-ms"]) for r in upstream.received()}
    assert 0 < ms["/a"] <= 500  # its own timeout, under the 600 ms deadline
    assert 0 < ms["/b"] <= 300
    assert 0 < ms["/c"] <= 600 - 200  # what is left after waiting for /a, not its own 1000
    assert ms["/c"] < ms["/a"]


async def test_params_returning_none_skips_the_call_and_uses_the_fallback(
    make_bff, upstream
) -> None:
    plan = Plan(
        (
            Part(
                "tracks", "svc", "/tracks", into=dict, params=lambda i: None, fallback={"items": []}
            ),
        )
    )
    response = await call(_bff(make_bff, plan, {"svc": upstream.url}), "GET", "/screen")
    assert response.status == 200
    body = body_json(response)
    assert body["values"] == {"tracks": {"items": []}}
    assert "degraded" not in body  # nothing to fetch is not a failure
    assert upstream.received() == []


async def test_required_failure_answers_without_waiting_for_slow_parts(make_bff, upstream) -> None:
    upstream.script("GET", "/fail", status=500, json={})
    upstream.script("GET", "/slow", json={}, delay=3.0)
    plan = Plan(
        (
            Part("slow", "svc", "/slow", into=dict, timeout_s=5.0),
            Part("fail", "svc", "/fail", into=dict),
        ),
        deadline_s=5.0,
    )
    response, elapsed = await _timed(_bff(make_bff, plan, {"svc": upstream.url}))
    assert_problem(response, 502)
    assert elapsed < 1.5


async def test_required_failure_cancels_the_other_in_flight_parts() -> None:
    # At the transport seam: the slow call must be cancelled, not left running.
    cancelled = asyncio.Event()
    slow_started = asyncio.Event()

    async def answer(request: UpstreamRequest) -> UpstreamResponse:
        if request.url.endswith("/slow"):
            slow_started.set()
            try:
                await asyncio.Event().wait()  # never answers by itself
            except asyncio.CancelledError:
                cancelled.set()
                raise
        await slow_started.wait()
        return UpstreamResponse(500, {}, b"{}")

    client = UpstreamClient(ServiceRegistry({"svc": "http://svc.invalid"}), MockTransport(answer))
    plan = Plan(
        (
            Part("slow", "svc", "/slow", into=dict, timeout_s=30),
            Part("fail", "svc", "/fail", into=dict),
        ),
        deadline_s=30,
    )
    with pytest.raises(UpstreamStatusError):
        await run_plan(plan, client, {})
    async with asyncio.timeout(2):
        await cancelled.wait()


async def test_an_empty_plan_returns_at_once() -> None:
    client = UpstreamClient(ServiceRegistry({}), MockTransport(_never_called))
    async with asyncio.timeout(0.5):  # not after the plan's 30 s deadline
        outcome = await run_plan(Plan((), deadline_s=30), client, {})
    assert outcome.values == {} and outcome.complete


async def _never_called(request: UpstreamRequest) -> UpstreamResponse:
    raise AssertionError("an empty plan makes no call")


async def test_a_part_needing_a_failed_required_part_leaves_no_unretrieved_error() -> None:
    async def answer(request: UpstreamRequest) -> UpstreamResponse:
        return UpstreamResponse(500, {}, b"{}")

    client = UpstreamClient(ServiceRegistry({"svc": "http://svc.invalid"}), MockTransport(answer))
    plan = Plan(
        (Part("a", "svc", "/a", into=dict), Part("b", "svc", "/b", into=dict, needs=("a",)))
    )
    unretrieved: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _, context: unretrieved.append(context))
    try:
        with pytest.raises(UpstreamStatusError):
            await run_plan(plan, client, {})
        gc.collect()  # an unretrieved task error is reported when the task is collected
    finally:
        loop.set_exception_handler(None)
    assert unretrieved == []


async def test_required_failure_aborts_the_in_flight_http_call(make_bff, upstream) -> None:
    upstream.script("GET", "/fail", status=500, json={})
    upstream.script("GET", "/slow", json={}, delay=1.0)
    plan = Plan(
        (
            Part("slow", "svc", "/slow", into=dict, timeout_s=5.0),
            Part("fail", "svc", "/fail", into=dict),
        ),
        deadline_s=5.0,
    )
    assert_problem(await call(_bff(make_bff, plan, {"svc": upstream.url}), "GET", "/screen"), 502)
    [slow] = upstream.received("/slow")
    async with asyncio.timeout(3):  # until the upstream handler has ended, either way
        await slow.done.wait()
    assert slow.cancelled


# -- resilience: last known good, fan-out cap, page size ------------------------------------


def _recs_bff(make_bff, upstream, **part_options: Any):
    plan = Plan(
        (
            Part(
                "recs",
                "svc",
                "/recs/{user_id}",
                into=dict,
                required=False,
                fallback={"items": []},
                **part_options,
            ),
        )
    )
    bff = make_bff({"upstreams": {"svc": upstream.url}})

    @bff.get("/screen/{user_id}", auth=False, plan=plan)
    async def screen(request: Request) -> Response:
        return await aggregate(request, _shape, user_id=request.path_params["user_id"])

    return bff


async def test_failed_optional_part_answers_its_last_known_good_value_marked_stale(
    make_bff, upstream
) -> None:
    bff = _recs_bff(make_bff, upstream, last_good="user")
    upstream.script("GET", "/recs/u1", json={"items": [1, 2]})
    assert "degraded" not in body_json(await call(bff, "GET", "/screen/u1"))
    upstream.script("GET", "/recs/u1", status=500, json={})
    response = await call(bff, "GET", "/screen/u1")
    body = body_json(response)
    assert body["values"] == {"recs": {"items": [1, 2]}}
    assert body["degraded"] == [{"part": "recs", "reason": "status", "stale": True}]


async def test_a_stale_part_is_marked_stale_in_the_degraded_header(make_bff, upstream) -> None:
    bff = _recs_bff(make_bff, upstream, last_good="user")
    upstream.script("GET", "/recs/u1", json={"items": [1, 2]})
    await call(bff, "GET", "/screen/u1")
    upstream.script("GET", "/recs/u1", status=500, json={})
    response = await call(bff, "GET", "/screen/u1")
    assert response.header("tailor-degraded") == "recs;reason=status;stale"


async def test_a_last_known_good_value_is_never_served_to_another_user(make_bff, upstream) -> None:
    bff = _recs_bff(make_bff, upstream, last_good="user")
    upstream.script("GET", "/recs/u1", json={"items": [1, 2]})
    await call(bff, "GET", "/screen/u1")
    upstream.script("GET", "/recs/u2", status=500, json={})
    body = body_json(await call(bff, "GET", "/screen/u2"))
    assert body["values"] == {"recs": {"items": []}}  # u2's fallback, not u1's data
    assert body["degraded"] == [{"part": "recs", "reason": "status"}]


async def test_without_last_good_a_failed_part_uses_its_fallback_even_after_a_success(
    make_bff, upstream
) -> None:
    bff = _recs_bff(make_bff, upstream)
    upstream.script("GET", "/recs/u1", json={"items": [1]})
    await call(bff, "GET", "/screen/u1")
    upstream.script("GET", "/recs/u1", status=500, json={})
    assert body_json(await call(bff, "GET", "/screen/u1"))["values"] == {"recs": {"items": []}}


async def test_a_part_outliving_the_deadline_answers_its_last_known_good_value(
    make_bff, upstream
) -> None:
    plan = Plan(
        (
            Part(
                "recs", "svc", "/recs", into=dict, required=False, fallback=None,
                timeout_s=5.0, last_good="public",
            ),
        ),
        deadline_s=0.2,
    )  # fmt: skip
    bff = _bff(make_bff, plan, {"svc": upstream.url})
    upstream.script("GET", "/recs", json={"items": [7]})
    await call(bff, "GET", "/screen")
    upstream.script("GET", "/recs", json={}, delay=1.0)
    body = body_json(await call(bff, "GET", "/screen"))
    assert body["values"] == {"recs": {"items": [7]}}
    assert body["degraded"] == [{"part": "recs", "reason": "timeout", "stale": True}]


def test_last_good_on_a_required_part_is_refused() -> None:
    from tailor import ConfigError

    with pytest.raises(ConfigError) as info:
        Part("me", "users", "/me", into=dict, last_good="user")
    assert info.value.key == "plan.me.last_good"


async def test_a_fan_out_over_the_per_request_cap_is_a_502_even_from_optional_parts(
    make_bff, upstream
) -> None:
    for name in "abcd":
        upstream.script("GET", f"/{name}", json={})
    plan = Plan(
        tuple(Part(n, "svc", f"/{n}", into=dict, required=False, fallback=None) for n in "abcd")
    )
    bff = make_bff({"upstreams": {"svc": upstream.url}, "resilience": {"max_calls_per_request": 3}})

    @bff.get("/screen", auth=False, plan=plan)
    async def screen(request: Request) -> Response:
        return await aggregate(request, _shape)

    problem = assert_problem(await call(bff, "GET", "/screen"), 502)
    assert "fanout_limit" in problem["detail"]
    assert len(upstream.received()) <= 3


async def test_a_limit_over_the_maximum_page_size_is_clamped(make_bff, upstream) -> None:
    upstream.script("GET", "/items", json={})
    plan = Plan((Part("items", "svc", "/items", into=dict, params={"limit": 500}),))
    bff = make_bff({"upstreams": {"svc": upstream.url}, "resilience": {"max_page_size": 50}})

    @bff.get("/screen", auth=False, plan=plan)
    async def screen(request: Request) -> Response:
        return await aggregate(request, _shape)

    assert (await call(bff, "GET", "/screen")).status == 200
    assert upstream.received()[0].query == {"limit": "50"}


async def test_an_optional_part_behind_an_open_breaker_degrades_as_circuit_open(
    make_bff, upstream
) -> None:
    upstream.script("GET", "/recs", status=503, json={})
    plan = Plan((Part("recs", "svc", "/recs", into=dict, required=False, fallback=None),))
    bff = make_bff(
        {
            "upstreams": {"svc": upstream.url},
            "resilience": {"default": {"breaker": {"min_calls": 2}, "retry": {"max_attempts": 1}}},
        }
    )

    @bff.get("/screen", auth=False, plan=plan)
    async def screen(request: Request) -> Response:
        return await aggregate(request, _shape)

    for _ in range(2):
        await call(bff, "GET", "/screen")
    body = body_json(await call(bff, "GET", "/screen"))
    assert body["degraded"] == [{"part": "recs", "reason": "circuit_open"}]
    assert len(upstream.received()) == 2


async def _ok(request: UpstreamRequest) -> UpstreamResponse:
    return UpstreamResponse(200, {}, b"{}")


def _engine(resilience: Resilience | None = None) -> tuple[Engine, MockTransport]:
    mock = MockTransport(_ok)
    client = UpstreamClient(ServiceRegistry({"svc": "http://svc.invalid"}), mock)
    return Engine(client, resilience), mock


TWO_PARTS = Plan(
    (Part("a", "svc", "/a", into=dict, idempotent=False), Part("b", "svc", "/b", into=dict))
)


async def test_a_parts_declared_idempotency_travels_on_its_upstream_request() -> None:
    engine, mock = _engine()
    await engine.run(TWO_PARTS, {})
    declared = {r.url.rsplit("/", 1)[1]: r.idempotent for r in mock.requests}
    assert declared == {"a": False, "b": None}


async def test_the_allowance_a_request_brings_travels_on_each_of_its_calls() -> None:
    engine, mock = _engine(Resilience(ResilienceSettings(), ["svc"], CollectorRegistry()))
    allowance = CallAllowance(10)
    await engine.run(TWO_PARTS, {}, allowance=allowance)
    assert [r.allowance for r in mock.requests] == [allowance, allowance]


async def test_a_plan_run_without_an_allowance_gets_one_from_the_resilience_runtime() -> None:
    settings = ResilienceSettings(max_calls_per_request=7)
    engine, mock = _engine(Resilience(settings, ["svc"], CollectorRegistry()))
    await engine.run(TWO_PARTS, {})
    first, second = (r.allowance for r in mock.requests)
    assert first is second and first is not None and first.limit == 7


def test_a_route_whose_plan_calls_an_unconfigured_upstream_fails_startup(make_bff) -> None:
    plan = Plan((Part("me", "users", "/users/u1", into=User),))
    bff = _bff(make_bff, plan, {})
    with pytest.raises(ConfigError) as info:
        bff.startup(admin=False)
    assert info.value.key == "upstreams.users"


async def test_aggregate_on_a_route_without_a_plan_is_a_500_problem(make_bff) -> None:
    bff = make_bff()

    @bff.get("/screen", auth=False)
    async def screen(request: Request) -> Response:
        return await aggregate(request, _shape)

    assert_problem(await call(bff, "GET", "/screen"), 500)


# -- budget-aware parts ----------------------------------------------------------------------


async def test_a_part_timed_by_the_budget_waits_for_a_slow_answer_inside_the_deadline(
    make_bff, upstream
) -> None:
    upstream.script("GET", "/me", json={"id": "u1"}, delay=1.1)  # past a Part's default 1 s
    plan = Plan((Part("me", "svc", "/me", into=dict, timeout_s=BUDGET),), deadline_s=1.5)
    response, elapsed = await _timed(_bff(make_bff, plan, {"svc": upstream.url}))
    assert response.status == 200
    assert body_json(response)["values"] == {"me": {"id": "u1"}}
    assert elapsed < 1.5


async def test_a_part_timed_by_the_budget_tells_the_service_what_the_endpoint_has_left(
    make_bff, upstream
) -> None:
    upstream.script("GET", "/a", json={}, delay=0.2)
    upstream.script("GET", "/b", json={})
    plan = Plan(
        (
            Part("a", "svc", "/a", into=dict, timeout_s=BUDGET),
            Part("b", "svc", "/b", into=dict, timeout_s=BUDGET, needs=("a",)),
        ),
        deadline_s=1.5,  # over a Part's default 1 s timeout
    )
    assert (await call(_bff(make_bff, plan, {"svc": upstream.url}), "GET", "/screen")).status == 200
    ms = {r.path: int(r.headers["x-deadline-ms"]) for r in upstream.received()}
    assert 1000 < ms["/a"] <= 1500  # the deadline, not a fixed 1 s, less what the start took
    assert 0 < ms["/b"] <= 1500 - 200  # what is left after waiting for /a


async def test_a_part_timed_by_the_budget_still_ends_at_the_deadline(make_bff, upstream) -> None:
    upstream.script("GET", "/me", json={}, delay=2.0)
    plan = Plan((Part("me", "svc", "/me", into=dict, timeout_s=BUDGET),), deadline_s=0.3)
    response, elapsed = await _timed(_bff(make_bff, plan, {"svc": upstream.url}))
    assert_problem(response, 504)
    assert elapsed < 0.3 + 0.2
