"""examples/aggregating_bff.py at the transport seam: the whole pipeline in-process, its
upstream calls answered by canned responses (tailor.testing)."""

from __future__ import annotations

import json

import pytest
from aggregating_bff import PROFILE, build
from openapi_spec_validator import validate

from tailor import build_config
from tailor.testing import CannedUpstreams, TestClient, TokenIssuer

ISSUER = TokenIssuer("https://id.example.com", "profile-bff")
ADA = {"id": "u1", "username": "ada", "avatar_url": "https://img.example/ada.png"}
TRACKS = {"items": [{"id": "t1", "title": "Loops"}, {"id": "t2", "title": "Drift"}]}


@pytest.fixture
def upstreams() -> CannedUpstreams:
    canned = CannedUpstreams()
    canned.answer("identity", "/.well-known/jwks.json", ISSUER.jwks)
    canned.answer("users", "/users/u1", ADA)
    canned.answer("tracks", "/tracks", TRACKS)
    return canned


def _client(upstreams: CannedUpstreams) -> TestClient:
    return TestClient(build(build_config(PROFILE)), upstreams)


async def test_the_profile_screen_aggregates_the_user_and_their_tracks(
    upstreams: CannedUpstreams,
) -> None:
    async with _client(upstreams) as client:
        response = await client.get("/v1/profile", headers=ISSUER.bearer("u1"))
    assert response.status == 200
    assert json.loads(response.body) == {
        "username": "ada",
        "avatar_url": "https://img.example/ada.png",
        "tracks": ["Loops", "Drift"],
    }


async def test_the_tracks_call_carries_the_callers_id_and_the_typed_limit(
    upstreams: CannedUpstreams,
) -> None:
    async with _client(upstreams) as client:
        await client.get("/v1/profile", query={"tracks": "2"}, headers=ISSUER.bearer("u1"))
    [tracks] = [r for r in upstreams.requests if r.upstream == "tracks"]
    assert tracks.url.endswith("/tracks?owner=u1&limit=2")


async def test_losing_the_tracks_still_answers_marked_degraded(upstreams: CannedUpstreams) -> None:
    upstreams.answer("tracks", "/tracks", {"error": "down"}, status=503)
    async with _client(upstreams) as client:
        response = await client.get("/v1/profile", headers=ISSUER.bearer("u1"))
    assert response.status == 200
    assert json.loads(response.body)["tracks"] == []
    assert response.header("tailor-degraded") == "tracks;reason=status"


async def test_losing_the_user_is_a_502_problem(upstreams: CannedUpstreams) -> None:
    upstreams.answer("users", "/users/u1", {"error": "down"}, status=503)
    async with _client(upstreams) as client:
        response = await client.get("/v1/profile", headers=ISSUER.bearer("u1"))
    assert response.status == 502
    assert response.header("content-type") == "application/problem+json"


async def test_a_limit_out_of_range_is_a_400_naming_it(upstreams: CannedUpstreams) -> None:
    async with _client(upstreams) as client:
        response = await client.get(
            "/v1/profile", query={"tracks": "500"}, headers=ISSUER.bearer("u1")
        )
    assert response.status == 400
    assert json.loads(response.body)["parameter"] == "tracks"


async def test_a_caller_without_a_token_is_refused_with_401(upstreams: CannedUpstreams) -> None:
    async with _client(upstreams) as client:
        response = await client.get("/v1/profile")
    assert response.status == 401
    assert response.header("www-authenticate") is not None
    assert not [r for r in upstreams.requests if r.upstream in ("users", "tracks")]


async def test_a_callers_second_request_is_a_cache_hit_without_upstream_calls(
    upstreams: CannedUpstreams,
) -> None:
    async with _client(upstreams) as client:
        first = await client.get("/v1/profile", headers=ISSUER.bearer("u1"))
        second = await client.get("/v1/profile", headers=ISSUER.bearer("u1"))
    assert second.status == 200 and second.body == first.body
    assert second.header("x-cache") == "hit"
    assert len([r for r in upstreams.requests if r.upstream == "users"]) == 1


async def test_the_example_serves_its_openapi_document_with_the_profile_screen(
    upstreams: CannedUpstreams,
) -> None:
    async with _client(upstreams) as client:
        response = await client.get("/openapi.json")
    assert response.status == 200
    document = json.loads(response.body)
    validate(document)
    ok = document["paths"]["/v1/profile"]["get"]["responses"]["200"]
    assert ok["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ProfileScreen"
    }
