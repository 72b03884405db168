"""Request ids: generated when absent, kept when safe, replaced when unsafe; echoed on the
response and sent inward."""

from __future__ import annotations

import os

import pytest
from harness import call

from tailor import Part, Plan, Request, Response, aggregate, json_response
from tailor.aggregate import AggregateBody
from tailor.stages import request_id


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

    @bff.get("/x", auth=False, plan=plan)
    async def x(request: Request) -> Response:
        return await aggregate(request, lambda o: AggregateBody())

    response = await call(bff, "GET", "/x", headers={"x-request-id": "trace-0002"})
    assert response.status == 200
    assert upstream.received("/a")[0].headers["x-request-id"] == "trace-0002"


async def test_generated_request_id_is_the_one_sent_inward(make_bff, upstream) -> None:
    upstream.script("GET", "/a", json={})
    plan = Plan((Part("a", "svc", "/a", into=dict),))
    bff = make_bff({"upstreams": {"svc": upstream.url}})

    @bff.get("/x", auth=False, plan=plan)
    async def x(request: Request) -> Response:
        return await aggregate(request, lambda o: AggregateBody())

    response = await call(bff, "GET", "/x", headers={"x-request-id": "bad id"})
    rid = response.header("x-request-id")
    assert rid and rid != "bad id"
    assert upstream.received("/a")[0].headers["x-request-id"] == rid


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_worker_never_hands_out_its_parents_next_ids() -> None:
    request_id._IDS.next()  # the parent has read a batch of ids
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its first id and leave at once
        os.write(write_end, request_id._IDS.next().encode())
        os._exit(0)
    os.waitpid(pid, 0)
    child_id = os.read(read_end, 64).decode()
    os.close(read_end)
    os.close(write_end)
    assert len(child_id) == 24
    assert child_id != request_id._IDS.next()
