"""Error mapping: exceptions below become RFC 9457 problems, never a trace."""

from __future__ import annotations

import logging

from harness import assert_problem, call
from upstreams import closed_port

from tailor import BadRequest, NotFound, Part, Plan, Request, Response, aggregate
from tailor.aggregate import AggregateBody
from tailor.errors import UpstreamTimeout


def _raising(make_bff, exc: BaseException, config: dict | None = None):
    bff = make_bff(config)

    @bff.get("/x", auth=False)
    async def x(request: Request) -> Response:
        raise exc

    return bff


async def test_unexpected_exception_is_a_500_problem_without_its_text(make_bff, caplog) -> None:
    caplog.set_level(logging.ERROR, "tailor.errors")
    bff = _raising(make_bff, KeyError("secret-db-password"))
    response = await call(bff, "GET", "/x")
    problem = assert_problem(response, 500)
    text = response.body.decode()
    assert "secret-db-password" not in text
    assert "Traceback" not in text and "KeyError" not in text
    assert problem["detail"] == "internal error"
    assert "secret-db-password" in caplog.text  # the server log keeps it


async def test_problem_carries_the_request_id(make_bff) -> None:
    bff = _raising(make_bff, RuntimeError("x"))
    response = await call(bff, "GET", "/x", headers={"x-request-id": "trace-0003"})
    assert assert_problem(response, 500)["request_id"] == "trace-0003"


async def test_http_problem_raised_by_a_handler_keeps_its_status(make_bff) -> None:
    response = await call(_raising(make_bff, NotFound("no such track")), "GET", "/x")
    assert assert_problem(response, 404)["detail"] == "no such track"


async def test_bad_request_raised_by_a_handler_names_its_parameter(make_bff) -> None:
    bff = _raising(make_bff, BadRequest("bad ids", parameter="ids"))
    assert assert_problem(await call(bff, "GET", "/x"), 400)["parameter"] == "ids"


async def test_an_open_circuit_on_a_required_part_is_a_503_with_retry_after(make_bff) -> None:
    from tailor.resilience.errors import CircuitOpen

    response = await call(_raising(make_bff, CircuitOpen("users", 1.5)), "GET", "/x")
    problem = assert_problem(response, 503)
    assert "users" in problem["detail"]
    assert response.header("retry-after") == "2"


async def test_upstream_timeout_is_a_504_problem(make_bff) -> None:
    bff = _raising(make_bff, UpstreamTimeout("users", "timed out"))
    problem = assert_problem(await call(bff, "GET", "/x"), 504)
    assert "users" in problem["detail"]


def _required(make_bff, url: str):
    plan = Plan((Part("me", "users", "/users/u1", into=dict),))
    bff = make_bff({"upstreams": {"users": url}})

    @bff.get("/x", auth=False, plan=plan)
    async def x(request: Request) -> Response:
        return await aggregate(request, lambda o: AggregateBody())

    return bff


async def test_upstream_5xx_on_a_required_part_is_a_502_problem(make_bff, upstream) -> None:
    upstream.script("GET", "/users/u1", status=503, body=b"db exploded at line 42")
    response = await call(_required(make_bff, upstream.url), "GET", "/x")
    assert_problem(response, 502)
    assert b"db exploded" not in response.body  # an upstream's own error text never leaks


async def test_upstream_404_on_a_required_part_is_a_404_problem(make_bff, upstream) -> None:
    upstream.script("GET", "/users/u1", status=404, json={"error": "gone"})
    assert_problem(await call(_required(make_bff, upstream.url), "GET", "/x"), 404)


async def test_connection_refused_on_a_required_part_is_a_502_problem(make_bff) -> None:
    bff = _required(make_bff, f"http://127.0.0.1:{closed_port()}")
    assert_problem(await call(bff, "GET", "/x"), 502)


async def test_every_local_error_is_problem_json(make_bff) -> None:
    bff = make_bff({"limits": {"max_body_bytes": 1}})

    @bff.get("/x/{id}", auth=False)
    async def x(request: Request) -> Response:
        raise RuntimeError

    for method, path, kwargs, status in [
        ("GET", "/nope", {}, 404),
        ("PUT", "/x/1", {}, 405),
        ("GET", "/x/a.b", {}, 400),
        ("GET", "/x/1", {"body": b"12"}, 413),
        ("GET", "/x/1", {"headers": {"h": "v" * 9000}}, 431),
        ("GET", "/x/1", {}, 500),
    ]:
        response = await call(bff, method, path, **kwargs)
        problem = assert_problem(response, status)
        assert set(problem) >= {"status", "title"}
