"""If-Match and version ETags at the edge: 428 without If-Match before any call, the
service's ETag carried out unchanged and never re-tagged by compression."""

from __future__ import annotations

import pytest
from harness import assert_problem

from tailor import BFF, Request, Response, json_response
from tailor.commands import if_match, versioned
from tailor.errors import PreconditionRequired
from tailor.testing import call


def test_an_edit_without_if_match_is_refused_with_428() -> None:
    with pytest.raises(PreconditionRequired):
        if_match(Request("PATCH", "/p/1", "", {}, "127.0.0.1"))


async def test_a_route_using_if_match_answers_428_as_problem_json(make_bff) -> None:
    bff: BFF = make_bff({"auth": {"anonymous": True}})

    async def edit(request: Request) -> Response:
        return versioned(json_response({"v": if_match(request)}), '"2"')

    bff.route("PATCH", "/p")(edit)
    assert_problem(await call(bff, "PATCH", "/p"), 428)
    answered = await call(bff, "PATCH", "/p", headers={"if-match": '"1"'})
    assert (answered.status, answered.header("etag")) == (200, '"2"')


async def test_a_version_etag_survives_the_compress_stage(make_bff) -> None:
    bff: BFF = make_bff(
        {"auth": {"anonymous": True}, "compression": {"enabled": True, "min_bytes": 1}}
    )

    async def read(request: Request) -> Response:
        return versioned(json_response({"pad": "x" * 4096}), '"7"')

    bff.get("/p")(read)
    response = await call(bff, "GET", "/p", headers={"accept-encoding": "gzip"})
    assert response.header("etag") == '"7"'
    assert response.header("content-encoding") is None
