"""A BFF's OpenAPI document, generated from its routes: what each declaration becomes."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from openapi_spec_validator import validate

from tailor import (
    BFF,
    Int,
    Json,
    Plan,
    Query,
    Request,
    Response,
    Token,
    build_config,
    json_response,
)
from tailor.aggregate import Part
from tailor.errors import ConfigError
from tailor.openapi import openapi_document


class Track(msgspec.Struct):
    """A track as the app shows it.

    Only what the screen draws."""

    id: str
    title: str
    genre: str | None = None


class Search(Query):
    q = Token(max_length=64)
    limit = Int(20, 1, 50)


class Login(msgspec.Struct):
    username: str
    password: str


def _bff(**config: Any) -> BFF:
    return BFF(build_config({"name": "demo", "admin": {"enabled": False}, **config}))


def _operation(bff: BFF, path: str, method: str = "get") -> dict[str, Any]:
    operation: dict[str, Any] = openapi_document(bff)["paths"][path][method]
    return operation


def test_the_response_type_is_read_from_the_handlers_json_annotation() -> None:
    bff = _bff()

    @bff.get("/v1/tracks/{id}", auth=False)
    async def track(request: Request) -> Json[Track]:
        return json_response(Track(request.path_params["id"], "t"))

    ok = _operation(bff, "/v1/tracks/{id}")["responses"]["200"]
    assert ok["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Track"}


def test_response_on_the_route_declares_the_type_a_plain_handler_answers() -> None:
    bff = _bff()

    async def track(request: Request) -> Response:
        return json_response([Track("t1", "t")])

    bff.get("/v1/tracks", auth=False, response=list[Track])(track)
    schema = _operation(bff, "/v1/tracks")["responses"]["200"]["content"]["application/json"]
    assert schema["schema"] == {"type": "array", "items": {"$ref": "#/components/schemas/Track"}}


def test_response_none_documents_a_204_without_a_body() -> None:
    bff = _bff()

    @bff.route("DELETE", "/v1/session", auth=False, response=None)
    async def logout(request: Request) -> Response:
        return Response(204)

    assert _operation(bff, "/v1/session", "delete")["responses"]["204"] == {
        "description": "No Content"
    }


def test_a_route_that_declares_no_response_type_is_refused_naming_it() -> None:
    bff = _bff()

    @bff.get("/v1/mystery", auth=False)
    async def mystery(request: Request) -> Response:
        return Response(200, b"{}")

    with pytest.raises(ConfigError, match="GET /v1/mystery does not declare its response type"):
        openapi_document(bff)


def test_a_served_document_with_an_undeclared_route_stops_startup() -> None:
    bff = _bff(openapi={"path": "/openapi.json"})

    @bff.get("/v1/mystery", auth=False)
    async def mystery(request: Request) -> Response:
        return Response(200, b"{}")

    with pytest.raises(ConfigError, match="openapi"):
        bff.check()


async def test_the_bff_serves_its_document_at_openapi_path_without_credentials() -> None:
    bff = _bff(openapi={"path": "/openapi.json"}, auth={"api_key": {}}, upstreams={
        "accounts": "http://127.0.0.1:9"})  # fmt: skip

    @bff.get("/v1/tracks/{id}")
    async def track(request: Request) -> Json[Track]:
        return json_response(Track("t1", "t"))

    request = Request("GET", "/openapi.json", "", {"host": "bff.test"}, "127.0.0.1")
    try:
        response = await bff.handle(request)
    finally:
        await bff.shutdown()
    assert response.status == 200
    served = msgspec.json.decode(response.body)
    assert served == openapi_document(bff)
    assert list(served["paths"]) == ["/v1/tracks/{id}"]  # not the document's own route


def test_path_and_query_parameters_carry_what_their_parsers_accept() -> None:
    bff = _bff()

    @bff.get("/v1/users/{id}/tracks", auth=False, query=Search)
    async def search(request: Request) -> Json[list[Track]]:
        return json_response([])

    parameters = {p["name"]: p for p in _operation(bff, "/v1/users/{id}/tracks")["parameters"]}
    assert parameters["id"]["in"] == "path" and parameters["id"]["required"] is True
    assert parameters["id"]["schema"]["pattern"] == "^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
    assert parameters["limit"]["schema"] == {
        "type": "integer", "minimum": 1, "maximum": 50, "default": 20}  # fmt: skip
    assert parameters["q"]["schema"]["maxLength"] == 64
    assert parameters["q"]["required"] is False


def test_a_declared_body_is_the_operations_required_json_request_body() -> None:
    bff = _bff()

    @bff.post("/v1/login", auth=False, body=Login, problems=(401, 415))
    async def login(request: Request) -> Json[Track]:
        return json_response(Track("t1", "t"))

    operation = _operation(bff, "/v1/login", "post")
    assert operation["requestBody"] == {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Login"}}},
    }
    assert {"401", "413", "415"} <= set(operation["responses"])


def test_the_summary_and_description_come_from_the_handlers_docstring() -> None:
    bff = _bff()

    @bff.get("/v1/track", auth=False)
    async def track(request: Request) -> Json[Track]:
        """One track.

        With its genre when known."""
        return json_response(Track("t1", "t"))

    operation = _operation(bff, "/v1/track")
    assert (operation["summary"], operation["description"]) == (
        "One track.", "With its genre when known.")  # fmt: skip


def test_a_schemas_description_is_its_structs_docstring_dedented() -> None:
    bff = _bff()

    @bff.get("/v1/track", auth=False)
    async def track(request: Request) -> Json[Track]:
        return json_response(Track("t1", "t"))

    schema = openapi_document(bff)["components"]["schemas"]["Track"]
    assert schema["description"] == "A track as the app shows it.\n\nOnly what the screen draws."


def test_problem_responses_are_shared_components_with_the_problem_schema() -> None:
    bff = _bff(upstreams={"tracks": "http://127.0.0.1:9"})
    plan = Plan(parts=(Part("track", "tracks", "/tracks/{id}", into=Track),), deadline_s=1.0)

    @bff.get("/v1/tracks/{id}", auth=False, plan=plan)
    async def track(request: Request) -> Json[Track]:
        return json_response(Track("t1", "t"))

    document = openapi_document(bff)
    responses = document["paths"]["/v1/tracks/{id}"]["get"]["responses"]
    assert responses["504"] == {"$ref": "#/components/responses/Problem504"}
    problem = document["components"]["responses"]["Problem504"]["content"]
    assert problem["application/problem+json"]["schema"] == {"$ref": "#/components/schemas/Problem"}


def test_every_generated_document_is_valid_openapi_3_1() -> None:
    bff = _bff(auth={"api_key": {}}, upstreams={"accounts": "http://127.0.0.1:9"})

    @bff.get("/v1/users/{id}/tracks", query=Search)
    async def search(request: Request) -> Json[list[Track]]:
        return json_response([])

    @bff.post("/v1/login", auth=False, body=Login)
    async def login(request: Request) -> Json[Track]:
        return json_response(Track("t1", "t"))

    validate(openapi_document(bff))


def test_a_handler_whose_annotation_does_not_resolve_is_refused_saying_why() -> None:
    bff = _bff()

    async def track(request: Request) -> Json[Unknown]:  # type: ignore[name-defined]  # noqa: F821
        return json_response(Track("t1", "t"))

    bff.get("/v1/track", auth=False)(track)
    with pytest.raises(
        ConfigError, match="GET /v1/track: its handler's annotations do not resolve"
    ):
        openapi_document(bff)
