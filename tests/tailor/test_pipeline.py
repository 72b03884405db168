"""The pipeline: the documented stage order, stages switched off by config absent from the
chain, and upstreams a BFF uses checked at startup."""

from __future__ import annotations

import pytest
from harness import AUDIENCE, ISSUER, call

from tailor import ConfigError, Part, Plan, Request, Response, json_response

JWT = {
    "auth": {"jwt": {"issuer": ISSUER, "audience": AUDIENCE}},
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

    @bff.get("/me", plans=(plan,))
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
    bff = make_bff({"auth": {"jwt": {"issuer": ISSUER, "audience": AUDIENCE}}})
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
