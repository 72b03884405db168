"""Request limits: 431 for oversized headers, 413 for oversized bodies (declared or chunked),
408 for a body that does not arrive in time; a small body reaches the handler intact."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from harness import assert_problem, body_json, call

from tailor import Part, Plan, Request, Response, aggregate, json_response
from tailor.aggregate import AggregateBody

LIMITS = {"limits": {"max_body_bytes": 100, "max_header_bytes": 512, "receive_timeout_s": 0.2}}


def _echo_bff(make_bff, ran: list[bytes], config: dict | None = None):
    bff = make_bff(config or LIMITS)

    @bff.post("/echo", auth=False)
    async def echo(request: Request) -> Response:
        ran.append(request.body)
        return json_response({"size": len(request.body), "body": request.body.decode()})

    return bff


async def test_headers_over_max_header_bytes_are_refused_with_431(make_bff) -> None:
    ran: list[bytes] = []
    response = await call(
        _echo_bff(make_bff, ran), "POST", "/echo", headers={"x-padding": "a" * 600}
    )
    assert_problem(response, 431)
    assert ran == []


async def test_headers_just_under_the_limit_pass(make_bff) -> None:
    ran: list[bytes] = []
    response = await call(
        _echo_bff(make_bff, ran), "POST", "/echo", headers={"x-padding": "a" * 300}
    )
    assert response.status == 200


async def test_oversized_content_length_is_refused_with_413_before_the_handler_runs(
    make_bff, upstream
) -> None:
    ran: list[bytes] = []
    bff = make_bff({**LIMITS, "upstreams": {"users": upstream.url}})
    plan = Plan((Part("me", "users", "/users/u1", into=dict),))

    @bff.post("/echo", auth=False, plan=plan)
    async def echo(request: Request) -> Response:
        ran.append(request.body)
        return await aggregate(request, lambda o: AggregateBody())

    response = await call(bff, "POST", "/echo", body=b"x" * 101)
    assert_problem(response, 413)
    assert ran == []
    assert upstream.received() == []


async def test_oversized_content_length_is_refused_without_reading_the_body(make_bff) -> None:
    read = asyncio.Event()

    async def read_body() -> AsyncIterator[bytes]:
        read.set()
        yield b"x"

    bff = _echo_bff(make_bff, [])
    response = await call(
        bff, "POST", "/echo", headers={"content-length": "1000000"}, read_body=read_body
    )
    assert_problem(response, 413)
    assert not read.is_set()


async def test_chunked_body_over_the_limit_is_refused_with_413(make_bff) -> None:
    ran: list[bytes] = []
    response = await call(_echo_bff(make_bff, ran), "POST", "/echo", chunks=[b"x" * 60, b"y" * 60])
    assert_problem(response, 413)
    assert ran == []


async def test_body_longer_than_its_content_length_is_refused_with_413(make_bff) -> None:
    # A lying content-length does not let more than max_body_bytes through.
    async def read_body() -> AsyncIterator[bytes]:
        yield b"x" * 500

    ran: list[bytes] = []
    response = await call(
        _echo_bff(make_bff, ran),
        "POST",
        "/echo",
        headers={"content-length": "10"},
        read_body=read_body,
    )
    assert_problem(response, 413)
    assert ran == []


async def test_body_that_does_not_arrive_in_time_is_refused_with_408(make_bff) -> None:
    never = asyncio.Event()

    async def stalled() -> AsyncIterator[bytes]:
        yield b"abc"
        await never.wait()  # the client stops sending
        yield b"never"

    ran: list[bytes] = []
    response = await call(
        _echo_bff(make_bff, ran),
        "POST",
        "/echo",
        headers={"content-length": "50"},
        read_body=stalled,
    )
    assert_problem(response, 408)
    assert ran == []


async def test_malformed_content_length_is_refused_with_400(make_bff) -> None:
    ran: list[bytes] = []
    response = await call(
        _echo_bff(make_bff, ran), "POST", "/echo", headers={"content-length": "-5"}
    )
    assert_problem(response, 400)
    assert ran == []


async def test_small_body_is_delivered_to_the_handler_intact(make_bff) -> None:
    ran: list[bytes] = []
    payload = '{"title": "näive ☃"}'.encode()
    response = await call(_echo_bff(make_bff, ran), "POST", "/echo", body=payload)
    assert response.status == 200
    assert ran == [payload]


async def test_small_chunked_body_is_joined_for_the_handler(make_bff) -> None:
    ran: list[bytes] = []
    response = await call(
        _echo_bff(make_bff, ran), "POST", "/echo", chunks=[b"ab", b"", b"cd", b"ef"]
    )
    assert body_json(response) == {"size": 6, "body": "abcdef"}
