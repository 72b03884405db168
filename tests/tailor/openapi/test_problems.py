"""Which problem statuses an operation documents: what its stages answer under its config."""

from __future__ import annotations

from typing import Any

from tailor import Plan, build_config
from tailor.aggregate import Part
from tailor.openapi.problems import route_problems
from tailor.routing import Route


async def _handler(request: Any) -> Any:
    raise AssertionError("never called")


def _route(template: str = "/v1/me", **options: Any) -> Route:
    return Route("GET", template, _handler, **options)


def _config(**config: Any) -> Any:
    return build_config({"name": "demo", **config})


PLAN = Plan(parts=(Part("me", "users", "/users/{user_id}", into=dict),), deadline_s=1.0)
UPSTREAMS = {"users": "http://127.0.0.1:9", "accounts": "http://127.0.0.1:9"}


def test_an_anonymous_route_that_calls_nothing_answers_only_a_malformed_request() -> None:
    assert route_problems(_route(auth=False), _config()) == [400]


def test_a_route_needing_a_credential_answers_401_and_503_when_an_upstream_checks_it() -> None:
    config = _config(auth={"api_key": {}}, upstreams=UPSTREAMS)
    assert route_problems(_route(), config) == [400, 401, 503]


def test_entitlements_add_403() -> None:
    config = _config(auth={"api_key": {}}, entitlements={"enabled": True}, upstreams=UPSTREAMS)
    assert 403 in route_problems(_route(), config)


def test_a_route_with_a_plan_answers_the_upstream_failures_and_404() -> None:
    problems = route_problems(_route(auth=False, plan=PLAN), _config(upstreams=UPSTREAMS))
    assert problems == [400, 404, 502, 503, 504]


def test_rate_limit_policies_add_429() -> None:
    config = _config(rate_limit={"policies": {"ip": {"key": "ip", "limit": 10, "window_s": 60}}})
    assert 429 in route_problems(_route(auth=False), config)


def test_load_shedding_adds_503() -> None:
    config = _config(resilience={"shed": {"enabled": True}})
    assert 503 in route_problems(_route(auth=False), config)


def test_a_body_adds_the_limits_stages_408_and_413() -> None:
    assert {408, 413} <= set(route_problems(_route(auth=False, body=dict), _config()))


def test_an_added_stages_problems_and_the_routes_own_are_listed() -> None:
    problems = route_problems(_route(auth=False, problems=(415,)), _config(), (426,))
    assert problems == [400, 415, 426]
