"""The rate-limit stage in a whole pipeline: per IP, user and app; per route class and tier;
draft -11 headers; 429 problem+json with Retry-After; config errors name the key."""

from __future__ import annotations

from typing import Any

import pytest
from harness import assert_problem
from prometheus_client import Counter
from ratelimit_helpers import limited, parse_list, send

from tailor import BFF, ConfigError, Request, Response, json_response
from tailor.auth.apps import App
from tailor.auth.principal import Principal
from tailor.config import RateLimit, RatePolicy
from tailor.ratelimit.memory import MemoryRateLimiter
from tailor.ratelimit.policy import policies_by_route
from tailor.routing import Route
from tailor.stages.ratelimit import CALLERS, RateLimitStage


async def statuses(bff: BFF, n: int, **kwargs: Any) -> list[int]:
    return [(await send(bff, **kwargs)).status for _ in range(n)]


async def test_per_ip_limit_refuses_the_request_over_it(make_bff) -> None:
    bff = limited(make_bff, {"ip": {"key": "ip", "limit": 3}})
    assert await statuses(bff, 4) == [200, 200, 200, 429]
    assert (await send(bff, ip="198.51.100.9")).status == 200  # another client, own quota


async def test_per_user_limit_counts_each_user_apart(make_bff) -> None:
    bff = limited(make_bff, {"user": {"key": "user", "limit": 2}})
    assert await statuses(bff, 3, user="u1") == [200, 200, 429]
    assert (await send(bff, user="u2")).status == 200
    assert (await send(bff)).status == 200  # anonymous: the user policy does not apply


async def test_per_app_limit_is_shared_by_every_user_of_the_app(make_bff) -> None:
    bff = limited(make_bff, {"app": {"key": "app", "limit": 2}})
    assert (await send(bff, user="u1", client_id="ios")).status == 200
    assert (await send(bff, user="u2", client_id="ios")).status == 200
    assert (await send(bff, user="u3", client_id="ios")).status == 429
    assert (await send(bff, user="u3", client_id="android")).status == 200


async def test_a_policy_applies_only_to_its_route_classes(make_bff) -> None:
    bff = limited(
        make_bff,
        {"auth": {"key": "ip", "limit": 1, "classes": ["auth"]}},
        route_classes={"POST /token": "auth"},
    )
    assert (await send(bff, "/token", "POST")).status == 200
    assert (await send(bff, "/token", "POST")).status == 429
    assert await statuses(bff, 5) == [200] * 5  # /read is class "read": unlimited here


async def test_routes_default_to_read_for_safe_methods_and_write_for_others(make_bff) -> None:
    bff = limited(make_bff, {"writes": {"key": "ip", "limit": 1, "classes": ["write"]}})
    assert (await send(bff, "/write", "POST")).status == 200
    assert (await send(bff, "/write", "POST")).status == 429
    assert (await send(bff, "/read")).status == 200


async def test_the_tier_of_the_callers_app_picks_the_limit(make_bff) -> None:
    bff = limited(make_bff, {"app": {"key": "app", "limit": 1, "tiers": {"gold": 3}}})
    assert await statuses(bff, 4, client_id="big", tier="gold") == [200, 200, 200, 429]
    assert await statuses(bff, 2, client_id="small", tier="free") == [200, 429]


async def test_a_caller_whose_tier_changes_is_held_to_its_new_limit(make_bff) -> None:
    bff = limited(make_bff, {"app": {"key": "app", "limit": 1, "tiers": {"gold": 3}}})
    gold = await send(bff, client_id="big", tier="gold")
    assert parse_list(gold.header("ratelimit-policy") or "") == {"app": {"q": 3, "w": 60}}
    # Downgraded: one request per 60 s, and the gold request 20 s ago already used it up.
    free = await send(bff, client_id="big", tier="free")
    assert free.status == 429
    assert parse_list(free.header("ratelimit-policy") or "") == {"app": {"q": 1, "w": 60}}


async def test_a_caller_without_an_app_gets_the_default_tier(make_bff) -> None:
    bff = limited(make_bff, {"ip": {"key": "ip", "limit": 2, "tiers": {"gold": 50}}})
    response = await send(bff)
    assert parse_list(response.header("ratelimit-policy") or "") == {"ip": {"q": 2, "w": 60}}


async def test_each_tier_gets_its_own_ratelimit_policy_header(make_bff) -> None:
    bff = limited(make_bff, {"app": {"key": "app", "limit": 1, "tiers": {"gold": 3}}})
    policies = [
        parse_list((await send(bff, client_id=c, tier=t)).header("ratelimit-policy") or "")
        for c, t in (("big", "gold"), ("small", "free"), ("big", "gold"), ("odd", "silver"))
    ]
    assert [p["app"]["q"] for p in policies] == [3, 1, 3, 1]


async def test_headers_follow_the_draft_structured_field_form(make_bff) -> None:
    bff = limited(
        make_bff,
        {
            "ip": {"key": "ip", "limit": 10, "window_s": 60},
            "user": {"key": "user", "limit": 5, "window_s": 1},
        },
    )
    response = await send(bff, user="u1")
    assert response.status == 200
    assert parse_list(response.header("ratelimit-policy") or "") == {
        "ip": {"q": 10, "w": 60},
        "user": {"q": 5, "w": 1},
    }
    assert parse_list(response.header("ratelimit") or "") == {
        "ip": {"r": 9, "t": 6},
        "user": {"r": 4, "t": 1},
    }


async def test_429_is_a_problem_with_retry_after_and_the_refused_policy(make_bff) -> None:
    bff = limited(make_bff, {"ip": {"key": "ip", "limit": 2, "window_s": 60}})
    await statuses(bff, 2)
    response = await send(bff)
    problem = assert_problem(response, 429)
    assert "203.0.113.7" not in problem.get("detail", "")  # no key echoed
    assert response.header("retry-after") == "30"
    assert parse_list(response.header("ratelimit") or "") == {"ip": {"r": 0, "t": 30}}
    assert parse_list(response.header("ratelimit-policy") or "") == {"ip": {"q": 2, "w": 60}}


async def test_refusals_are_counted_by_policy(make_bff) -> None:
    bff = limited(make_bff, {"ip": {"key": "ip", "limit": 1}})
    await statuses(bff, 3)
    value = bff.metrics.registry.get_sample_value("tailor_ratelimit_denied_total", {"policy": "ip"})
    assert value == 2


async def test_without_policies_the_stage_is_not_in_the_chain(make_bff) -> None:
    bff = make_bff()
    bff.startup(admin=False)
    assert "RateLimitStage" not in bff.stages


async def test_a_route_class_entry_naming_no_route_is_a_config_error(make_bff) -> None:
    bff = limited(make_bff, {"ip": {"key": "ip", "limit": 1}}, route_classes={"POST /tokn": "auth"})
    with pytest.raises(ConfigError) as caught:
        bff.startup(admin=False)
    assert caught.value.key == "rate_limit.route_classes.POST /tokn"


@pytest.mark.parametrize(
    ("policy", "key"),
    [
        ({"key": "session", "limit": 1}, "rate_limit.policies.p.key"),
        ({"key": "ip", "limit": 0}, "rate_limit.policies.p.limit"),
        ({"key": "ip", "limit": 1, "window_s": 0}, "rate_limit.policies.p.window_s"),
    ],
)
async def test_a_bad_policy_is_a_config_error_naming_the_key(make_bff, policy, key) -> None:
    with pytest.raises(ConfigError) as caught:
        make_bff({"rate_limit": {"policies": {"p": policy}}})
    assert caught.value.key == key


async def test_an_unknown_backend_is_a_config_error(make_bff) -> None:
    with pytest.raises(ConfigError) as caught:
        make_bff({"rate_limit": {"backend": "memcached"}})
    assert caught.value.key == "rate_limit.backend"


async def test_a_kept_caller_whose_app_changes_is_charged_by_its_new_app(make_bff) -> None:
    bff = limited(make_bff, {"app": {"key": "app", "limit": 1, "tiers": {"gold": 3}}})
    bff.startup(admin=False)
    principal = Principal("u1", client_id="big")  # one object, as the JWT cache hands it out

    async def as_caller(app: App) -> Response:
        request = Request("GET", "/read", "", {"host": "bff.test"}, "203.0.113.7")
        request.principal, request.app = principal, app
        return await bff.handle(request)

    gold = App("big", tier="gold")
    assert (await as_caller(gold)).status == 200
    assert (await as_caller(gold)).status == 200  # the kept caller, charged again
    downgraded = await as_caller(App("big", tier="free"))  # the registry's renewed entry
    assert parse_list(downgraded.header("ratelimit-policy") or "") == {"app": {"q": 1, "w": 60}}
    assert downgraded.status == 429


def test_the_callers_a_stage_keeps_stay_bounded_however_many_come() -> None:
    cfg = RateLimit(policies={"ip": RatePolicy("ip", 1_000_000)})
    route = Route("GET", "/read", _ok)
    stage = RateLimitStage(
        cfg,
        MemoryRateLimiter(),
        policies_by_route([route], cfg),
        Counter("denied", "", ["policy"], registry=None),
        Counter("errors", "", ["backend", "action"], registry=None),
    )
    chain = stage.wrap(lambda request: Response(204))  # answers at once: nothing to await
    for i in range(2 * CALLERS + 1):
        request = Request("GET", "/read", "", {}, f"10.{i >> 16}.{i >> 8 & 255}.{i & 255}")
        request.route = route
        chain(request)
        assert len(stage._callers) <= CALLERS


async def _ok(request: Request) -> Response:
    return json_response({"ok": True})
