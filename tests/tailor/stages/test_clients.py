"""The clients stage: the caller's app, platform and version on ``request.client_info``,
counted per route; a deprecated route's answers carry Deprecation, Sunset and Link, and past
its sunset it is 410 problem+json; workarounds reach only the clients and routes their rule
names; bad deprecations and rules stop startup naming the key."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from harness import assert_problem, call

from tailor import BFF, CachePolicy, ConfigError, Request, Response, json_response
from tailor.clients import Transform

HEADER = {"source": "header", "app": "waveform"}
DEPRECATED = {
    "deprecated": "2026-12-01",
    "sunset": "2099-06-30",
    "link": "https://developers.example.com/changes/ping-v2",
}
RULE = {
    "app": "waveform",
    "platform": "android",
    "versions": ">=3.0, <3.4",
    "routes": ["/v1/ping"],
    "transform": "stamp",
    "owner": "mobile@example.com",
    "expires": "2099-01-01",
}


def stamp(response: Response, request: Request) -> Response:
    body = msgspec.json.decode(response.body)
    response.body = msgspec.json.encode({**body, "stamped": True})
    return response


def cap_limit(request: Request) -> None:
    request.query["limit"] = min(int(request.query.get("limit", "50")), 10).__str__()


def make(make_bff: Any, **clients: Any) -> BFF:
    bff: BFF = make_bff({"clients": {**HEADER, **clients}})
    bff.add_transform("stamp", Transform(response=stamp))
    bff.add_transform("cap_limit", Transform(request=cap_limit))

    for path in ("/v1/ping", "/v2/ping"):

        @bff.get(path, auth=False)
        async def ping(request: Request) -> Response:
            info = request.client_info
            assert info is not None
            return json_response(
                {
                    "client": [info.app, info.platform, info.version],
                    "limit": request.query.get("limit"),
                }
            )

    @bff.get("/v1/fail", auth=False)
    async def fail(request: Request) -> Response:
        return json_response({"no": "stamp"}, status=409)

    return bff


async def get(bff: BFF, path: str, client: str | None = None) -> Response:
    return await call(
        bff, "GET", path, headers={} if client is None else {"x-client-version": client}
    )


def body(response: Response) -> Any:
    return msgspec.json.decode(response.body)


async def test_handlers_see_the_client_identified_from_the_header(make_bff: Any) -> None:
    response = await get(make(make_bff), "/v1/ping", "waveform/4.12.0 (Android 14)")
    assert body(response)["client"] == ["waveform", "android", "4.12.0"]


async def test_the_user_agent_is_read_when_the_config_says_so(make_bff: Any) -> None:
    bff = make(make_bff, source="user-agent")
    response = await call(bff, "GET", "/v1/ping", headers={"user-agent": "Waveform/5.1 (iOS 18)"})
    assert body(response)["client"] == ["waveform", "ios", "5.1"]


@pytest.mark.parametrize("text", ["4.x", "", "Waveform/9999999", "\u00e9\u00e9/1.0", "1" * 5000])
async def test_a_malformed_client_header_is_an_unknown_client_not_an_error(
    make_bff: Any, text: str
) -> None:
    response = await get(make(make_bff), "/v2/ping", text)
    assert response.status == 200
    assert body(response)["client"] == ["unknown", "unknown", "unknown"]


async def test_calls_are_counted_per_route_and_client_version(make_bff: Any) -> None:
    bff = make(make_bff)
    for path, client in [("/v1/ping", "3.1 (iOS)"), ("/v1/ping", "3.1 (iOS)"), ("/v2/ping", None)]:
        await get(bff, path, client)
    labels = {"route": "/v1/ping", "app": "waveform", "platform": "ios", "version": "3.1"}
    assert bff.metrics.registry.get_sample_value("tailor_client_requests_total", labels) == 2
    unknown = {"route": "/v2/ping", "app": "unknown", "platform": "unknown", "version": "unknown"}
    assert bff.metrics.registry.get_sample_value("tailor_client_requests_total", unknown) == 1


async def test_a_deprecated_route_tells_its_callers_when_and_where_to(make_bff: Any) -> None:
    bff = make(make_bff, deprecations={"/v1/ping": DEPRECATED})
    response = await get(bff, "/v1/ping", "3.1")
    assert response.status == 200
    assert response.header("deprecation") == "@1796083200"  # RFC 9745: 2026-12-01, UTC
    assert response.header("sunset") == "Tue, 30 Jun 2099 00:00:00 GMT"  # RFC 8594
    assert response.header("link") == (
        '<https://developers.example.com/changes/ping-v2>; rel="deprecation"; type="text/html"'
    )


async def test_a_route_that_is_not_deprecated_sends_no_deprecation_headers(
    make_bff: Any,
) -> None:
    bff = make(make_bff, deprecations={"/v1/ping": DEPRECATED})
    response = await get(bff, "/v2/ping", "3.1")
    assert response.header("deprecation") is None and response.header("sunset") is None


async def test_a_route_past_its_sunset_is_gone_with_the_link(make_bff: Any) -> None:
    gone = {**DEPRECATED, "deprecated": "2020-01-01", "sunset": "2020-06-30"}
    bff = make(make_bff, deprecations={"/v1/ping": gone})
    response = await get(bff, "/v1/ping", "3.1")
    problem = assert_problem(response, 410)
    assert "https://developers.example.com/changes/ping-v2" in problem["detail"]
    assert 'rel="deprecation"' in (response.header("link") or "")
    assert response.header("sunset") == "Tue, 30 Jun 2020 00:00:00 GMT"


@pytest.mark.parametrize(
    "client, stamped",
    [
        ("3.2 (Android 14)", True),
        ("3.4 (Android 14)", False),
        ("3.2 (iOS 17)", False),
        (None, False),
    ],
)
async def test_a_workaround_reaches_only_the_clients_its_rule_names(
    make_bff: Any, client: str | None, stamped: bool
) -> None:
    bff = make(make_bff, workarounds={"old-android": RULE})
    response = await get(bff, "/v1/ping", client)
    assert body(response).get("stamped", False) is stamped


async def test_a_workaround_reaches_only_the_routes_its_rule_names(make_bff: Any) -> None:
    bff = make(make_bff, workarounds={"old-android": RULE})
    assert "stamped" not in body(await get(bff, "/v2/ping", "3.2 (Android 14)"))


async def test_a_workaround_leaves_an_answer_that_is_no_success_alone(make_bff: Any) -> None:
    bff = make(make_bff, workarounds={"old-android": {**RULE, "routes": ["/v1/fail"]}})
    response = await get(bff, "/v1/fail", "3.2 (Android 14)")
    assert (response.status, body(response)) == (409, {"no": "stamp"})


async def test_a_request_transform_changes_the_request_before_the_handler(
    make_bff: Any,
) -> None:
    rule = {**RULE, "transform": "cap_limit", "routes": []}
    bff = make(make_bff, workarounds={"cap": rule})
    response = await call(
        bff, "GET", "/v2/ping", query="limit=50", headers={"x-client-version": "3.1 (Android)"}
    )
    assert body(response)["limit"] == "10"


def test_without_a_clients_table_the_stage_is_not_in_the_chain(make_bff: Any) -> None:
    bff = make_bff()
    bff.startup(admin=False)
    assert "ClientsStage" not in bff.stages


def test_the_stage_runs_right_after_routing(make_bff: Any) -> None:
    bff = make(make_bff)
    bff.startup(admin=False)
    assert bff.stages[bff.stages.index("RouteStage") + 1] == "ClientsStage"


@pytest.mark.parametrize(
    "clients, key",
    [
        (
            {"deprecations": {"/v1/ping": {**DEPRECATED, "sunset": "2026-11-30"}}},
            "clients.deprecations./v1/ping.sunset",
        ),
        ({"deprecations": {"/v1/pong": DEPRECATED}}, "clients.deprecations./v1/pong"),
        (
            {"deprecations": {"/v1/ping": {**DEPRECATED, "link": "not a url"}}},
            "clients.deprecations./v1/ping.link",
        ),
        ({"workarounds": {"w": {**RULE, "transform": "nope"}}}, "clients.workarounds.w.transform"),
        ({"workarounds": {"w": {**RULE, "versions": ">=3.x"}}}, "clients.workarounds.w.versions"),
        ({"workarounds": {"w": {**RULE, "versions": "3.0"}}}, "clients.workarounds.w.versions"),
        ({"workarounds": {"w": {**RULE, "routes": ["/v9"]}}}, "clients.workarounds.w.routes"),
        ({"workarounds": {"w": {**RULE, "owner": ""}}}, "clients.workarounds.w.owner"),
        (
            {"workarounds": {"w": {k: v for k, v in RULE.items() if k != "expires"}}},
            "clients.workarounds.w.expires",
        ),
        ({"source": "cookie"}, "clients.source"),
    ],
)
def test_a_bad_deprecation_or_rule_stops_startup_naming_its_key(
    make_bff: Any, clients: dict[str, Any], key: str
) -> None:
    with pytest.raises(ConfigError) as info:
        make(make_bff, **clients).startup(admin=False)
    assert info.value.key == key


async def test_a_cache_hit_on_a_deprecated_route_carries_its_headers(make_bff: Any) -> None:
    bff: BFF = make_bff({"clients": {**HEADER, "deprecations": {"/v1/cached": DEPRECATED}}})

    @bff.get("/v1/cached", auth=False, cache=CachePolicy(scope="public", ttl_s=60))
    async def cached(request: Request) -> Response:
        return json_response({"ok": True})

    await get(bff, "/v1/cached", "3.1")
    hit = await get(bff, "/v1/cached", "3.1")
    assert hit.header("x-cache") == "hit"
    assert hit.header("deprecation") == "@1796083200"
    assert [name for name, _ in hit.headers].count("deprecation") == 1
