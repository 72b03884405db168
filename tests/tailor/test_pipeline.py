"""The pipeline: the documented stage order, stages switched off by config absent from the
chain, stages a BFF adds at a named position with settings checked at startup, and upstreams
a BFF uses checked at startup."""

from __future__ import annotations

from typing import Annotated

import msgspec
import pytest
from harness import AUDIENCE, ISSUER, call

from tailor import ConfigError, Part, Plan, Request, Response, json_response
from tailor.cache.policy import CachePolicy
from tailor.chain import Chain, Outcome, then
from tailor.pipeline import BUILT_IN, BuildContext, stage_order

JWT = {
    "auth": {"jwt": {"issuer": ISSUER, "audience": AUDIENCE, "jwks_upstream": "accounts"}},
    "upstreams": {"accounts": "http://127.0.0.1:9"},
}

DOCUMENTED = [
    "ObserveStage",
    "RequestIdStage",
    "ErrorStage",
    "LimitsStage",
    "SanitizeStage",
    "RouteStage",
    "AuthenticateStage",
    "HandlerStage",
]


def test_stages_run_in_the_documented_order(make_bff) -> None:
    bff = make_bff(JWT)
    bff.startup(admin=False)
    assert bff.stages == DOCUMENTED


def test_metrics_switched_off_removes_the_observe_stage(make_bff) -> None:
    bff = make_bff({**JWT, "metrics": {"enabled": False}})
    bff.startup(admin=False)
    assert "ObserveStage" not in bff.stages
    assert bff.stages == [s for s in DOCUMENTED if s != "ObserveStage"]


def test_no_jwt_config_removes_the_authenticate_stage(make_bff) -> None:
    bff = make_bff()
    bff.startup(admin=False)
    assert "AuthenticateStage" not in bff.stages


async def test_observe_stage_switched_off_records_no_request(make_bff) -> None:
    bff = make_bff({"metrics": {"enabled": False}})

    @bff.get("/x", auth=False)
    async def x(request: Request) -> Response:
        return json_response({})

    await call(bff, "GET", "/x")
    assert (
        bff.metrics.registry.get_sample_value(
            "tailor_requests_total", {"route": "/x", "method": "GET", "status": "200"}
        )
        is None
    )


def test_upstream_used_by_a_plan_but_not_configured_fails_startup(make_bff) -> None:
    plan = Plan((Part("me", "users", "/users/{id}", into=dict),))
    bff = make_bff()

    @bff.get("/me", plan=plan)
    async def me(request: Request) -> Response:
        return json_response({})

    with pytest.raises(ConfigError) as info:
        bff.startup(admin=False)
    assert info.value.key == "upstreams.users"


def test_upstream_named_in_uses_but_not_configured_fails_startup(make_bff) -> None:
    bff = make_bff()
    bff.post("/login", auth=False, uses=("accounts",))(lambda r: None)  # type: ignore[arg-type]
    with pytest.raises(ConfigError) as info:
        bff.startup(admin=False)
    assert info.value.key == "upstreams.accounts"


def test_jwks_upstream_not_configured_fails_startup(make_bff) -> None:
    bff = make_bff(
        {"auth": {"jwt": {"issuer": ISSUER, "audience": AUDIENCE, "jwks_upstream": "accounts"}}}
    )
    with pytest.raises(ConfigError) as info:
        bff.startup(admin=False)
    assert info.value.key == "upstreams.accounts"


async def test_a_stage_answering_locally_skips_the_stages_below(make_bff) -> None:
    # limits (above route and handler) refuses: neither routing nor the handler runs, and the
    # response still passes back up through request_id.
    ran = []
    bff = make_bff({"limits": {"max_body_bytes": 4}})

    @bff.post("/x", auth=False)
    async def x(request: Request) -> Response:
        ran.append(1)
        return json_response({})

    response = await call(bff, "POST", "/nope", body=b"0123456789")
    assert response.status == 413  # not 404: limits runs before route
    assert response.header("x-request-id")
    assert ran == []


async def test_an_answer_found_without_waiting_is_the_response_itself(make_bff) -> None:
    # A refusal (here the router's 404) needs nothing awaited: respond() gives the Response,
    # already finished by the stages above (request id, metrics).
    bff = make_bff()
    bff.startup(admin=False)
    outcome = bff.respond(Request("GET", "/nowhere", "", {}, "127.0.0.1"))
    assert isinstance(outcome, Response)
    assert outcome.status == 404
    assert outcome.header("x-request-id")
    # observed, as an awaited answer would be
    assert ("<unmatched>", "GET", 404) in bff.metrics.requests.known


async def test_an_answer_from_a_handler_is_awaited_and_finished_on_the_way_back(make_bff) -> None:
    bff = make_bff()

    @bff.get("/x", auth=False)
    async def x(request: Request) -> Response:
        return json_response({"ok": True})

    bff.startup(admin=False)
    outcome = bff.respond(Request("GET", "/x", "", {}, "127.0.0.1"))
    assert not isinstance(outcome, Response)
    response = await outcome
    assert response.status == 200
    assert response.header("x-request-id")


async def test_a_cache_hit_is_answered_without_waiting(make_bff) -> None:
    bff = make_bff({"cache": {"enabled": True, "backend": "memory"}})
    runs = []

    @bff.get("/cached", auth=False, cache=CachePolicy(scope="public", ttl_s=60))
    async def cached(request: Request) -> Response:
        runs.append(1)
        return json_response({"n": len(runs)})

    bff.startup(admin=False)
    first = bff.respond(Request("GET", "/cached", "", {}, "127.0.0.1"))
    assert not isinstance(first, Response)  # a miss runs the handler
    assert (await first).header("x-cache") == "miss"
    hit = bff.respond(Request("GET", "/cached", "", {}, "127.0.0.1"))
    assert isinstance(hit, Response)
    assert (hit.status, hit.header("x-cache"), hit.body) == (200, "hit", b'{"n":1}')
    assert hit.header("x-request-id")


async def test_handle_always_gives_an_awaitable(make_bff) -> None:
    bff = make_bff()
    response = await bff.handle(Request("GET", "/nowhere", "", {}, "127.0.0.1"))
    assert response.status == 404


class Stamp(msgspec.Struct, forbid_unknown_fields=True):
    value: Annotated[str, msgspec.Meta(pattern=r"^[a-z]+$")] = "edge"


class StampStage:
    """A stage of a BFF's own: stamps every answer with its configured value."""

    name = "stamp"

    def __init__(self, value: str) -> None:
        self._value = value

    @classmethod
    def build(cls, ctx: BuildContext) -> StampStage:
        return cls(ctx.stage_settings(cls.name, Stamp).value)

    def wrap(self, next_handler: Chain) -> Chain:
        value = self._value

        def stamp(request: Request) -> Outcome:
            return then(next_handler(request), _stamped, value)

        return stamp


def _stamped(response: Response, value: str) -> Response:
    response.headers.append(("x-stamp", value))
    return response


def test_an_added_stage_runs_at_its_named_position(make_bff) -> None:
    bff = make_bff(JWT)
    bff.add_stage(StampStage, after="authenticate")
    bff.startup(admin=False)
    assert bff.stages == [*DOCUMENTED[:-1], "StampStage", "HandlerStage"]


def test_an_added_stage_may_be_placed_before_a_named_stage(make_bff) -> None:
    bff = make_bff()
    bff.add_stage(StampStage, before="observe")
    bff.startup(admin=False)
    assert bff.stages[0] == "StampStage"


async def test_an_added_stage_finishes_answers_found_at_once_and_awaited(make_bff) -> None:
    bff = make_bff({"stages": {"stamp": {"value": "mobile"}}})
    bff.add_stage(StampStage, after="route")

    @bff.get("/x", auth=False)
    async def x(request: Request) -> Response:
        return json_response({})

    refused = await call(bff, "GET", "/nowhere")
    served = await call(bff, "GET", "/x")
    assert (refused.status, refused.header("x-stamp")) == (404, None)  # route answered first
    assert (served.status, served.header("x-stamp")) == (200, "mobile")


def test_an_unknown_position_stops_startup_naming_it(make_bff) -> None:
    bff = make_bff()
    bff.add_stage(StampStage, after="authenticat")
    with pytest.raises(ConfigError) as info:
        bff.startup(admin=False)
    assert info.value.key == "add_stage(stamp).after"
    assert "'authenticat'" in str(info.value)


def test_a_position_below_the_handler_stops_startup(make_bff) -> None:
    bff = make_bff()
    bff.add_stage(StampStage, after="handler")
    with pytest.raises(ConfigError) as info:
        bff.startup(admin=False)
    assert info.value.key == "add_stage(stamp).after"


def test_a_stage_placed_both_before_and_after_stops_startup(make_bff) -> None:
    bff = make_bff()
    bff.add_stage(StampStage, before="route", after="observe")
    with pytest.raises(ConfigError) as info:
        bff.startup(admin=False)
    assert info.value.key == "add_stage(stamp)"


def test_a_stage_name_taken_twice_stops_startup(make_bff) -> None:
    bff = make_bff()
    bff.add_stage(StampStage, after="route")
    bff.add_stage(StampStage, before="route")
    with pytest.raises(ConfigError) as info:
        bff.startup(admin=False)
    assert "already in the chain" in str(info.value)


def test_a_bad_setting_of_an_added_stage_stops_startup_naming_its_key(make_bff) -> None:
    bff = make_bff({"stages": {"stamp": {"value": "NOT LOWER"}}})
    bff.add_stage(StampStage, after="route")
    with pytest.raises(ConfigError) as info:
        bff.startup(admin=False)
    assert info.value.key == "stages.stamp.value"


def test_an_unknown_setting_of_an_added_stage_stops_startup_naming_its_key(make_bff) -> None:
    bff = make_bff({"stages": {"stamp": {"valu": "edge"}}})
    bff.add_stage(StampStage, after="route")
    with pytest.raises(ConfigError) as info:
        bff.startup(admin=False)
    assert info.value.key == "stages.stamp.valu"


def test_settings_for_a_stage_that_was_never_added_stop_startup_naming_them(make_bff) -> None:
    bff = make_bff({"stages": {"stamp": {}}})
    with pytest.raises(ConfigError) as info:
        bff.startup(admin=False)
    assert info.value.key == "stages.stamp"


def test_adding_a_stage_after_startup_is_refused(make_bff) -> None:
    bff = make_bff()
    bff.startup(admin=False)
    with pytest.raises(RuntimeError):
        bff.add_stage(StampStage, after="route")


def test_the_built_in_order_names_every_stage_once() -> None:
    names = [stage.name for stage in stage_order()]
    assert len(set(names)) == len(names) == len(BUILT_IN)
