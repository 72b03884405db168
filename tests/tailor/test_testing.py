"""tailor.testing: a BFF in-process with canned upstream answers, and a test identity
provider whose tokens the BFF's JWT authentication accepts."""

from __future__ import annotations

import pytest
from harness import body_json

from tailor import BFF, AggregateBody, Part, Plan, Request, Response, aggregate, build_config
from tailor.testing import CannedUpstreams, TestClient, TokenIssuer

ME = Plan((Part("me", "users", "/users/{user_id}", into=dict, required=False),))


class Screen(AggregateBody, kw_only=True):
    me: dict[str, str] | None


def _bff(auth: dict[str, object] | None = None) -> BFF:
    upstreams = {"users": "http://users.internal", "identity": "https://id.example"}
    bff = BFF(build_config({"name": "t", "upstreams": upstreams, "auth": auth or {}}))

    @bff.get("/screen/{user_id}", auth=auth is not None, plan=ME)
    async def screen(request: Request) -> Response:
        user_id = request.path_params["user_id"]
        return await aggregate(request, lambda o: Screen(me=o["me"]), user_id=user_id)

    return bff


async def test_a_canned_answer_is_what_the_plan_receives() -> None:
    upstreams = CannedUpstreams()
    upstreams.answer("users", "/users/u1", {"id": "u1"})
    async with TestClient(_bff(), upstreams) as client:
        response = await client.get("/screen/u1")
    assert body_json(response) == {"me": {"id": "u1"}}


async def test_a_call_nothing_answers_gets_a_404() -> None:
    async with TestClient(_bff(), CannedUpstreams()) as client:
        response = await client.get("/screen/u1")
    assert response.header("tailor-degraded") == "me;reason=status"


async def test_every_inward_call_is_recorded_with_its_upstream_and_url() -> None:
    upstreams = CannedUpstreams()
    async with TestClient(_bff(), upstreams) as client:
        await client.get("/screen/u-2")
    assert [(r.upstream, r.url) for r in upstreams.requests] == [
        ("users", "http://users.internal/users/u-2")
    ]


async def test_a_started_bff_is_refused() -> None:
    bff = _bff()
    bff.startup(admin=False)
    try:
        with pytest.raises(RuntimeError):
            TestClient(bff, CannedUpstreams())
    finally:
        await bff.shutdown()


async def test_a_token_issuers_bearer_token_is_accepted_against_its_jwks() -> None:
    issuer = TokenIssuer("https://id.example", "t-bff")
    jwt = {"issuer": issuer.issuer, "audience": issuer.audience, "jwks_upstream": "identity"}
    upstreams = CannedUpstreams()
    upstreams.answer("identity", "/.well-known/jwks.json", issuer.jwks)
    upstreams.answer("users", "/users/u1", {"id": "u1"})
    async with TestClient(_bff({"jwt": jwt}), upstreams) as client:
        accepted = await client.get("/screen/u1", headers=issuer.bearer("u1"))
        refused = await client.get("/screen/u1")
    assert (accepted.status, refused.status) == (200, 401)
