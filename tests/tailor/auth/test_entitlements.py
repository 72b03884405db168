"""The entitlements stage through the pipeline, with the app registry as a real upstream."""

from __future__ import annotations

import pytest
from harness import AUDIENCE, ISSUER, assert_problem, bearer, body_json, call, jwks, sign
from upstreams import closed_port

from tailor import Request, Response, json_response
from tailor.auth.apps import App

JWKS_PATH = "/.well-known/jwks.json"


def _app(client_id: str, **overrides: object) -> dict[str, object]:
    entry: dict[str, object] = {
        "client_id": client_id, "name": client_id, "status": "active", "bffs": ["mobile"],
        "routes": {"mobile": ["*"]}, "scopes": ["user"], "tier": "standard",
    }  # fmt: skip
    entry.update(overrides)
    return entry


@pytest.fixture
async def accounts(upstream):
    upstream.script("GET", JWKS_PATH, json=jwks("k1"))
    upstream.script("GET", "/apps/full-app", json=_app("full-app"))
    upstream.script(
        "GET", "/apps/narrow", json=_app("narrow", routes={"mobile": ["GET /tracks/{id}"]})
    )
    upstream.script("GET", "/apps/sleeping", json=_app("sleeping", status="suspended"))
    upstream.script("GET", "/apps/web-only", json=_app("web-only", bffs=["web"]))
    upstream.script("GET", "/apps/ghost", status=404, json={"status": 404})
    return upstream


def _bff(make_bff, accounts_url: str, registry_url: str | None = None, **entitlements):
    bff = make_bff(
        {
            "name": "mobile",
            "auth": {"jwt": {"issuer": ISSUER, "audience": AUDIENCE, "jwks_upstream": "accounts"}},
            "entitlements": {"enabled": True, "registry_upstream": "registry", **entitlements},
            "upstreams": {"accounts": accounts_url, "registry": registry_url or accounts_url},
        }
    )

    @bff.get("/home")
    async def home(request: Request) -> Response:
        app = request.app
        assert isinstance(app, App)
        return json_response({"client_id": app.client_id, "tier": app.tier})

    @bff.get("/tracks/{id}")
    async def track(request: Request) -> Response:
        return json_response({"id": request.path_params["id"]})

    @bff.get("/open", auth=False)
    async def open_route(request: Request) -> Response:
        return json_response({})

    return bff


def _token(client_id: str) -> dict[str, str]:
    return bearer(sign("k1", client_id=client_id))


async def test_an_active_app_reaches_any_route_and_its_app_is_in_request_state(make_bff, accounts):
    response = await call(_bff(make_bff, accounts.url), path="/home", headers=_token("full-app"))
    assert response.status == 200
    assert body_json(response) == {"client_id": "full-app", "tier": "standard"}


async def test_a_narrow_app_reaches_its_listed_route(make_bff, accounts):
    bff = _bff(make_bff, accounts.url)
    response = await call(bff, path="/tracks/t1", headers=_token("narrow"))
    assert response.status == 200


async def test_a_head_is_entitled_as_the_get_route_it_is_answered_by(make_bff, accounts):
    bff = _bff(make_bff, accounts.url)
    for _ in range(2):  # the first looks the app up, the second finds it known
        response = await call(bff, "HEAD", "/tracks/t1", headers=_token("narrow"))
        assert response.status == 200


async def test_a_route_outside_the_apps_entitlements_is_a_403(make_bff, accounts):
    bff = _bff(make_bff, accounts.url)
    assert_problem(await call(bff, path="/home", headers=_token("narrow")), 403)


@pytest.mark.parametrize("client_id", ["sleeping", "web-only", "ghost"])
async def test_a_suspended_unknown_or_foreign_app_gets_the_same_403(make_bff, accounts, client_id):
    bff = _bff(make_bff, accounts.url)
    problem = assert_problem(await call(bff, path="/tracks/t1", headers=_token(client_id)), 403)
    assert problem["detail"] == "this app may not call this endpoint"


async def test_a_token_without_a_client_id_is_a_403(make_bff, accounts):
    bff = _bff(make_bff, accounts.url)
    assert_problem(await call(bff, path="/tracks/t1", headers=bearer(sign("k1"))), 403)


async def test_registry_answers_are_cached_so_a_burst_asks_once(make_bff, accounts):
    bff = _bff(make_bff, accounts.url)
    for _ in range(5):
        assert (await call(bff, path="/tracks/t1", headers=_token("full-app"))).status == 200
    assert len(accounts.received("/apps/full-app")) == 1


async def test_a_suspension_takes_effect_after_the_cache_ttl(make_bff, accounts):
    bff = _bff(make_bff, accounts.url, cache_ttl_s=0.0)
    assert (await call(bff, path="/tracks/t1", headers=_token("full-app"))).status == 200
    accounts.script("GET", "/apps/full-app", json=_app("full-app", status="suspended"))
    assert_problem(await call(bff, path="/tracks/t1", headers=_token("full-app")), 403)


async def test_an_unreachable_registry_fails_closed_with_a_503_by_default(make_bff, accounts):
    bff = _bff(make_bff, accounts.url, registry_url=f"http://127.0.0.1:{closed_port()}")
    assert_problem(await call(bff, path="/tracks/t1", headers=_token("full-app")), 503)


async def test_an_unreachable_registry_lets_requests_through_when_configured_open(
    make_bff, accounts
):
    bff = _bff(
        make_bff,
        accounts.url,
        registry_url=f"http://127.0.0.1:{closed_port()}",
        on_unavailable="open",
    )
    assert (await call(bff, path="/tracks/t1", headers=_token("full-app"))).status == 200


async def test_an_anonymous_route_skips_the_registry(make_bff, accounts):
    bff = _bff(make_bff, accounts.url)
    assert (await call(bff, path="/open")).status == 200
    assert accounts.received("/apps/full-app") == []


def test_entitlements_are_left_out_of_the_chain_when_disabled(make_bff):
    bff = make_bff({"upstreams": {}})
    bff.startup(admin=False)
    assert "EntitleStage" not in bff.stages
