"""Request ids: generated when absent, kept when safe, replaced when unsafe; echoed on the
response and sent inward."""

from __future__ import annotations

import pytest
from harness import call

from tailor import Part, Plan, Request, Response, aggregate, json_response
from tailor.aggregate import AggregateBody


def _bff(make_bff, seen: list[str]):
    bff = make_bff()

    @bff.get("/x", auth=False)
    async def x(request: Request) -> Response:
        seen.append(request.request_id)
        return json_response({})

    return bff


async def test_request_id_is_generated_when_absent(make_bff) -> None:
    seen: list[str] = []
    bff = _bff(make_bff, seen)
    first = await call(bff, "GET", "/x")
    await call(bff, "GET", "/x")
    assert first.header("x-request-id") == seen[0]
    assert len(seen[0]) >= 16
    assert seen[0] != seen[1]


async def test_safe_inbound_request_id_is_kept(make_bff) -> None:
    seen: list[str] = []
    response = await call(
        _bff(make_bff, seen), "GET", "/x", headers={"x-request-id": "abc-123_DEF.9"}
    )
    assert seen == ["abc-123_DEF.9"]
    assert response.header("x-request-id") == "abc-123_DEF.9"


@pytest.mark.parametrize(
    "unsafe",
    ["has spaces in it", "line\nInjected: yes", "x" * 500, "short", "semi;colon;id"],
)
async def test_unsafe_inbound_request_id_is_replaced(make_bff, unsafe: str) -> None:
    seen: list[str] = []
    response = await call(_bff(make_bff, seen), "GET", "/x", headers={"x-request-id": unsafe})
    assert seen[0] != unsafe
    assert response.header("x-request-id") == seen[0]
    assert seen[0].isalnum()


async def test_request_id_is_on_local_answers_too(make_bff) -> None:
    response = await call(
        _bff(make_bff, []), "GET", "/nope", headers={"x-request-id": "trace-0001"}
    )
    assert response.status == 404
    assert response.header("x-request-id") == "trace-0001"


async def test_request_id_is_sent_inward(make_bff, upstream) -> None:
    upstream.script("GET", "/a", json={})
    plan = Plan((Part("a", "svc", "/a", into=dict),))
    bff = make_bff({"upstreams": {"svc": upstream.url}})

    @bff.get("/x", auth=False, plans=(plan,))
    async def x(request: Request) -> Response:
        return await aggregate(request, plan, lambda o: AggregateBody())

    response = await call(bff, "GET", "/x", headers={"x-request-id": "trace-0002"})
    assert response.status == 200
    assert upstream.received("/a")[0].headers["x-request-id"] == "trace-0002"


async def test_generated_request_id_is_the_one_sent_inward(make_bff, upstream) -> None:
    upstream.script("GET", "/a", json={})
    plan = Plan((Part("a", "svc", "/a", into=dict),))
    bff = make_bff({"upstreams": {"svc": upstream.url}})

    @bff.get("/x", auth=False, plans=(plan,))
    async def x(request: Request) -> Response:
        return await aggregate(request, plan, lambda o: AggregateBody())

    response = await call(bff, "GET", "/x", headers={"x-request-id": "bad id"})
    rid = response.header("x-request-id")
    assert rid and rid != "bad id"
    assert upstream.received("/a")[0].headers["x-request-id"] == rid
