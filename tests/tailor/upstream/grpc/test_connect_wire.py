"""The Connect wire of the gRPC transport (``connect://``), against a real HTTP server: the
call is a POST to the method's path with the JSON codec, the answer is decoded like any JSON
service's, and Connect errors map as gRPC statuses do."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest
from google.rpc import error_details_pb2
from upstreams import ScriptedUpstream

from tailor.errors import UpstreamTimeout, UpstreamUnavailable
from tailor.upstream import ServiceRegistry, UpstreamClient
from tailor.upstream.grpc.descriptors import Binding
from tailor.upstream.grpc.status import GrpcStatusError
from tailor.upstream.grpc.transport import GrpcTransport, GrpcUpstream
from tailor.upstream.http1_transport import Http1Transport

GET_BOOK = "/library.v1.LibraryService/GetBook"


class Author(msgspec.Struct):
    name: str


class Card(msgspec.Struct):
    id: str
    display: str = msgspec.field(name="title")
    author: Author | None = None


@pytest.fixture
async def client(
    upstream: ScriptedUpstream, routes: list[Binding]
) -> AsyncIterator[UpstreamClient]:
    base = f"connect://127.0.0.1:{upstream.port}"
    wire = GrpcUpstream("library", base, upstream.url, routes, "connect")
    made = UpstreamClient(
        ServiceRegistry({"library": base}), GrpcTransport({"library": wire}, Http1Transport())
    )
    yield made
    await made.aclose()


async def test_a_call_is_a_json_post_to_the_method_with_its_timeout(
    upstream: ScriptedUpstream, client: UpstreamClient
) -> None:
    upstream.script("POST", GET_BOOK, json={"id": "b1", "title": "Dune"})
    card = await client.get_json("library", "/books/b1", Card, timeout_s=1.5)
    assert card == Card("b1", "Dune")
    (seen,) = upstream.received(GET_BOOK)
    assert seen.headers["content-type"] == "application/json"
    assert seen.headers["connect-protocol-version"] == "1"
    assert 1000 <= int(seen.headers["connect-timeout-ms"]) <= 1500


async def test_a_command_s_body_and_path_go_as_one_json_request(
    upstream: ScriptedUpstream, client: UpstreamClient
) -> None:
    method = "/library.v1.LibraryService/AddBook"
    upstream.script("POST", method, json={"id": "b7", "title": "Dune"})
    response = await client.request(
        "library", "/shelves/s1/books", method="POST", body=b'{"title": "Dune"}', into=Card
    )
    assert client.decode("library", response, Card) == Card("b7", "Dune")
    (seen,) = upstream.received(method)
    assert msgspec.json.decode(seen.body) == {"shelf": "s1", "title": "Dune"}


def test_the_read_mask_goes_in_the_json_mapping_s_camel_case(routes: list[Binding]) -> None:
    from tailor.upstream.transport import UpstreamRequest

    wire = GrpcUpstream("library", "connect://h:1", "http://h:1", routes, "connect")
    call = UpstreamRequest("library", "GET", "connect://h:1/books/b1", [], 1.0, into=Card)
    binding, values, plan = wire.request(call)
    assert (binding.name, values) == ("GetBook", {"book_id": "b1"})
    assert plan.json_mask == "id,title,author.name"


async def test_a_connect_error_is_its_grpc_status_with_details(
    upstream: ScriptedUpstream, client: UpstreamClient
) -> None:
    info = error_details_pb2.ErrorInfo(reason="NO_BOOK", domain="library")
    value = base64.b64encode(info.SerializeToString()).decode().rstrip("=")
    detail = {"type": "google.rpc.ErrorInfo", "value": value}
    body: dict[str, Any] = {"code": "not_found", "message": "no b9", "details": [detail]}
    upstream.script("POST", GET_BOOK, status=404, json=body)
    with pytest.raises(GrpcStatusError) as caught:
        await client.get_json("library", "/books/b9", Card)
    error = caught.value
    assert (error.status, error.code_name, error.message) == (404, "NOT_FOUND", "no b9")
    assert error.details[0]["reason"] == "NO_BOOK"


async def test_unavailable_is_raised_as_upstream_unavailable(
    upstream: ScriptedUpstream, client: UpstreamClient
) -> None:
    upstream.script("POST", GET_BOOK, status=503, json={"code": "unavailable"})
    with pytest.raises(UpstreamUnavailable):
        await client.get_json("library", "/books/b1", Card)


async def test_deadline_exceeded_is_raised_as_a_timeout(
    upstream: ScriptedUpstream, client: UpstreamClient
) -> None:
    upstream.script("POST", GET_BOOK, status=504, json={"code": "deadline_exceeded"})
    with pytest.raises(UpstreamTimeout):
        await client.get_json("library", "/books/b1", Card)


async def test_an_error_body_that_is_not_connect_s_maps_by_http_status(
    upstream: ScriptedUpstream, client: UpstreamClient
) -> None:
    upstream.script("POST", GET_BOOK, status=418, body=b"<html>teapot</html>")
    with pytest.raises(GrpcStatusError) as caught:
        await client.get_json("library", "/books/b1", Card)
    assert caught.value.code_name == "UNKNOWN"
