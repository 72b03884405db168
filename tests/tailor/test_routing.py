"""Routing: endpoint lookup (404/405) and path/query parameter checks (400 naming them)."""

from __future__ import annotations

import asyncio

import pytest
from harness import assert_problem, body_json, call

from tailor import BFF, Request, Response, json_response
from tailor.params import Int, Query, Token
from tailor.routing import Route, Router
from tailor.serve.http1 import Http1Server, ServerSettings


async def _echo(request: Request) -> Response:
    return json_response(
        {
            "template": request.route.template if request.route else None,
            "params": request.path_params,
            "query": request.parsed_query,
        }
    )


def _bff(make_bff) -> BFF:
    bff = make_bff()
    bff.get("/v1/home", auth=False)(_echo)
    bff.get("/v1/tracks/{id}", auth=False)(_echo)
    bff.post("/v1/tracks/{id}/likes", auth=False)(_echo)
    bff.get("/v1/feed", auth=False, query={"limit": Int(20, 1, 50), "cursor": Token()})(_echo)
    return bff


async def test_static_path_reaches_its_handler(make_bff) -> None:
    response = await call(_bff(make_bff), "GET", "/v1/home")
    assert response.status == 200
    assert body_json(response)["template"] == "/v1/home"


async def test_templated_path_binds_its_parameter(make_bff) -> None:
    response = await call(_bff(make_bff), "GET", "/v1/tracks/t-17")
    assert response.status == 200
    assert body_json(response) == {
        "template": "/v1/tracks/{id}",
        "params": {"id": "t-17"},
        "query": {},
    }


async def test_unknown_route_is_a_404_problem(make_bff) -> None:
    assert_problem(await call(_bff(make_bff), "GET", "/v1/nope"), 404)


async def test_wrong_segment_count_does_not_match_a_template(make_bff) -> None:
    assert_problem(await call(_bff(make_bff), "GET", "/v1/tracks/t1/extra"), 404)


async def test_known_static_path_with_wrong_method_is_405_with_allow(make_bff) -> None:
    response = await call(_bff(make_bff), "DELETE", "/v1/home")
    assert_problem(response, 405)
    assert response.header("allow") == "GET, HEAD"


async def test_known_templated_path_with_wrong_method_is_405_with_allow(make_bff) -> None:
    response = await call(_bff(make_bff), "GET", "/v1/tracks/t1/likes")
    assert_problem(response, 405)
    assert response.header("allow") == "POST"


async def _over_a_socket(bff: BFF, *heads: bytes) -> list[bytes]:
    """The raw answers to ``heads``, each sent on its own connection to the BFF served by
    tailor's HTTP/1.1 server on 127.0.0.1."""
    bff.startup(admin=False)
    server = Http1Server(bff.respond, ServerSettings())
    await server.start(host="127.0.0.1", port=0)
    answers = []
    try:
        for head in heads:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(head)
            async with asyncio.timeout(5):
                answers.append(await reader.read())  # until the server closes
            writer.close()
    finally:
        await server.close(grace_s=1)
    return answers


def _answer(raw: bytes) -> tuple[str, dict[str, str], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    status, *lines = head.decode("latin-1").split("\r\n")
    fields = dict(line.lower().split(": ", 1) for line in lines)
    return status, fields, body


@pytest.mark.parametrize("path", ["/v1/home", "/v1/tracks/t1"])
async def test_a_head_on_a_get_route_is_answered_as_the_get_without_its_body(
    make_bff, path: str
) -> None:
    get, head = (
        _answer(raw)
        for raw in await _over_a_socket(
            _bff(make_bff),
            f"GET {path} HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n".encode(),
            f"HEAD {path} HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n".encode(),
        )
    )
    assert (head[0], head[2]) == ("HTTP/1.1 200 OK", b"")
    assert head[1]["content-length"] == get[1]["content-length"] == str(len(get[2]))
    assert head[1]["content-type"] == get[1]["content-type"]


async def test_a_templated_path_with_wrong_method_lists_head_beside_get_in_allow(
    make_bff,
) -> None:
    response = await call(_bff(make_bff), "DELETE", "/v1/tracks/t1")
    assert_problem(response, 405)
    assert response.header("allow") == "GET, HEAD"


def test_the_route_list_names_a_get_route_once() -> None:
    async def h(request: Request) -> Response:
        return Response()

    router = Router()
    router.add(Route("GET", "/v1/home", h))
    assert [(r.method, r.template) for r in router.routes] == [("GET", "/v1/home")]


async def test_malformed_path_parameter_is_a_400_naming_it(make_bff) -> None:
    response = await call(_bff(make_bff), "GET", "/v1/tracks/..%2Fadmin")
    problem = assert_problem(response, 400)
    assert problem["parameter"] == "id"
    assert "'id'" in problem["detail"]


async def test_path_parameter_with_a_dot_never_reaches_the_handler(make_bff) -> None:
    ran = []
    bff = make_bff()

    @bff.get("/v1/tracks/{id}", auth=False)
    async def handler(request: Request) -> Response:
        ran.append(request)
        return json_response({})

    assert_problem(await call(bff, "GET", "/v1/tracks/a.b"), 400)
    assert ran == []


async def test_declared_query_parameters_are_parsed(make_bff) -> None:
    response = await call(_bff(make_bff), "GET", "/v1/feed", query="limit=7&cursor=abc")
    assert body_json(response)["query"] == {"limit": 7, "cursor": "abc"}


async def test_absent_query_parameter_takes_its_default(make_bff) -> None:
    response = await call(_bff(make_bff), "GET", "/v1/feed")
    assert body_json(response)["query"] == {"limit": 20, "cursor": None}


async def test_non_integer_query_parameter_is_a_400_naming_it(make_bff) -> None:
    response = await call(_bff(make_bff), "GET", "/v1/feed", query="limit=ten")
    problem = assert_problem(response, 400)
    assert problem["parameter"] == "limit"


async def test_out_of_range_query_parameter_is_a_400_naming_it(make_bff) -> None:
    response = await call(_bff(make_bff), "GET", "/v1/feed", query="limit=51")
    problem = assert_problem(response, 400)
    assert problem["parameter"] == "limit"
    assert "between 1 and 50" in problem["detail"]


async def test_malformed_token_query_parameter_is_a_400_naming_it(make_bff) -> None:
    response = await call(_bff(make_bff), "GET", "/v1/feed", query="cursor=a%20b")
    assert assert_problem(response, 400)["parameter"] == "cursor"


def test_router_prefers_a_static_route_over_a_template() -> None:
    async def h(request: Request) -> Response:
        return Response()

    router = Router()
    router.add(Route("GET", "/v1/tracks/{id}", h))
    router.add(Route("GET", "/v1/tracks/popular", h))
    match = router.match("GET", "/v1/tracks/popular")
    assert match.route is not None and match.route.template == "/v1/tracks/popular"
    assert match.params == {}


def test_router_does_not_bind_an_empty_segment() -> None:
    async def h(request: Request) -> Response:
        return Response()

    router = Router()
    router.add(Route("GET", "/v1/tracks/{id}", h))
    assert router.match("GET", "/v1/tracks/").route is None


class _Feed(Query):
    limit = Int(20, 1, 50)
    cursor = Token()


async def test_a_query_class_hands_the_handler_its_typed_values(make_bff) -> None:
    bff = make_bff()

    @bff.get("/v1/feed", auth=False, query=_Feed)
    async def feed(request: Request) -> Response:
        params = _Feed.of(request)
        return json_response({"limit": params.limit, "cursor": params.cursor})

    response = await call(bff, "GET", "/v1/feed", query="limit=7")
    assert body_json(response) == {"limit": 7, "cursor": None}


async def test_a_query_class_refuses_a_malformed_value_before_the_handler(make_bff) -> None:
    ran = []
    bff = make_bff()

    @bff.get("/v1/feed", auth=False, query=_Feed)
    async def feed(request: Request) -> Response:
        ran.append(request)
        return json_response({})

    problem = assert_problem(await call(bff, "GET", "/v1/feed", query="limit=ten"), 400)
    assert problem["parameter"] == "limit"
    assert ran == []
