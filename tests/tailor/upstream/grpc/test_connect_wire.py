"""The Connect wire of the gRPC transport (``connect://``), against a real HTTP server: the
call is a POST to the method's path carrying the serialized request (``application/proto``),
the answer is the serialized response message converted into the consumed struct as on the
gRPC wire, and Connect errors map as gRPC statuses do."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest
from google.protobuf.message import Message
from google.rpc import error_details_pb2
from upstreams import Received, Script, ScriptedUpstream

from tailor.aggregate import Engine, Part, Plan
from tailor.config import ResilienceSettings
from tailor.errors import UpstreamDecodeError, UpstreamTimeout, UpstreamUnavailable
from tailor.resilience.runtime import Resilience
from tailor.resilience.transport import ResilientTransport
from tailor.upstream import ServiceRegistry, UpstreamClient
from tailor.upstream.grpc.descriptors import Binding
from tailor.upstream.grpc.status import GrpcStatusError
from tailor.upstream.grpc.transport import GrpcTransport, GrpcUpstream
from tailor.upstream.http1_transport import Http1Transport
from tailor.upstream.transport import UpstreamRequest, UpstreamResponse

GET_BOOK = "/library.v1.LibraryService/GetBook"
PROTO = "application/proto"


class Author(msgspec.Struct):
    name: str


class Card(msgspec.Struct):
    id: str
    display: str = msgspec.field(name="title")
    author: Author | None = None


def _binding(routes: list[Binding], name: str) -> Binding:
    return next(b for b in routes if b.name == name)


def _book(routes: list[Binding], **values: Any) -> Message:
    return _binding(routes, "GetBook").response(**values)


def _answer(message: Message) -> dict[str, Any]:
    """A Script's options answering ``message`` as a Connect server does."""
    return {"body": message.SerializeToString(), "content_type": PROTO}


@pytest.fixture
def transport() -> GrpcTransport:
    return GrpcTransport({}, Http1Transport())


@pytest.fixture
async def client(
    upstream: ScriptedUpstream, routes: list[Binding], transport: GrpcTransport
) -> AsyncIterator[UpstreamClient]:
    base = f"connect://127.0.0.1:{upstream.port}"
    transport.upstreams["library"] = GrpcUpstream("library", base, upstream.url, routes, "connect")
    made = UpstreamClient(ServiceRegistry({"library": base}), transport)
    yield made
    await made.aclose()


async def test_a_call_is_a_proto_post_to_the_method_with_its_timeout(
    upstream: ScriptedUpstream, client: UpstreamClient
) -> None:
    upstream.script("POST", GET_BOOK, json={})
    with pytest.raises(UpstreamDecodeError):  # the scripted answer is no matter here
        await client.get_json("library", "/books/b1", Card, timeout_s=1.5)
    (seen,) = upstream.received(GET_BOOK)
    assert seen.headers["content-type"] == PROTO
    assert seen.headers["connect-protocol-version"] == "1"
    assert 1000 <= int(seen.headers["connect-timeout-ms"]) <= 1500


async def test_the_request_message_holds_the_path_fields_and_the_struct_s_read_mask(
    upstream: ScriptedUpstream, client: UpstreamClient, routes: list[Binding]
) -> None:
    upstream.script("POST", GET_BOOK, **_answer(_book(routes, id="b1", title="Dune")))
    await client.get_json("library", "/books/b1", Card)
    (seen,) = upstream.received(GET_BOOK)
    sent = _binding(routes, "GetBook").request.FromString(seen.body)
    assert sent.book_id == "b1"
    assert list(sent.read_mask.paths) == ["id", "title", "author.name"]


async def test_query_parameters_fill_the_request_fields_by_type(
    upstream: ScriptedUpstream, client: UpstreamClient, routes: list[Binding]
) -> None:
    method = "/library.v1.LibraryService/BatchGetBooks"
    batch = _binding(routes, "BatchGetBooks")
    upstream.script("POST", method, **_answer(batch.response()))
    await client.get_json("library", "/books?ids=b1,b2&limit=5&in_print=true", dict)
    (seen,) = upstream.received(method)
    sent = batch.request.FromString(seen.body)
    assert (list(sent.ids), sent.limit, sent.in_print) == (["b1", "b2"], 5, True)


async def test_the_answer_is_converted_into_the_consumed_struct(
    upstream: ScriptedUpstream, client: UpstreamClient, routes: list[Binding]
) -> None:
    answer = _book(routes, id="b1", title="Dune", isbn="x")
    answer.author.name = "Frank"
    upstream.script("POST", GET_BOOK, **_answer(answer))
    card = await client.get_json("library", "/books/b1", Card)
    assert card == Card("b1", "Dune", Author("Frank"))


async def test_a_command_s_body_and_path_go_as_one_proto_request(
    upstream: ScriptedUpstream, client: UpstreamClient, routes: list[Binding]
) -> None:
    method = "/library.v1.LibraryService/AddBook"
    upstream.script("POST", method, **_answer(_book(routes, id="b7", title="Dune")))
    response = await client.request(
        "library", "/shelves/s1/books", method="POST", body=b'{"title": "Dune"}', into=Card
    )
    assert client.decode("library", response, Card) == Card("b7", "Dune")
    (seen,) = upstream.received(method)
    sent = _binding(routes, "AddBook").request.FromString(seen.body)
    assert (sent.shelf, sent.title, sent.HasField("pages")) == ("s1", "Dune", False)


async def test_a_truncated_answer_is_a_decode_error(
    upstream: ScriptedUpstream, client: UpstreamClient
) -> None:
    # Field 1 says five bytes follow; two do.
    upstream.script("POST", GET_BOOK, body=b"\x0a\x05b1", content_type=PROTO)
    with pytest.raises(UpstreamDecodeError):
        await client.get_json("library", "/books/b1", Card)


async def test_an_answer_missing_what_the_struct_requires_is_a_decode_error(
    upstream: ScriptedUpstream, client: UpstreamClient, routes: list[Binding]
) -> None:
    class NeedsAuthor(msgspec.Struct):
        id: str
        author: Author

    upstream.script("POST", GET_BOOK, **_answer(_book(routes, id="b1")))
    with pytest.raises(UpstreamDecodeError):
        await client.get_json("library", "/books/b1", NeedsAuthor)


async def test_an_answer_of_another_content_type_is_a_decode_error(
    upstream: ScriptedUpstream, client: UpstreamClient
) -> None:
    upstream.script("POST", GET_BOOK, json={"id": "b1", "title": "Dune"})
    with pytest.raises(UpstreamDecodeError):
        await client.get_json("library", "/books/b1", Card)


async def test_a_malformed_optional_part_is_marked_degraded(
    upstream: ScriptedUpstream, transport: GrpcTransport, client: UpstreamClient
) -> None:
    upstream.script("POST", GET_BOOK, body=b"\x0a\x05b1", content_type=PROTO)
    resilience = Resilience(msgspec.convert({}, ResilienceSettings), ["library"])
    registry = ServiceRegistry({"library": f"connect://127.0.0.1:{upstream.port}"})
    engine = Engine(UpstreamClient(registry, ResilientTransport(transport, resilience)), resilience)
    plan = Plan((Part("book", "library", "/books/b1", into=Card, required=False),))
    result = await engine.run(plan, {})
    assert result["book"] is None
    assert [(d.part, d.reason) for d in result.degraded] == [("book", "malformed")]


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


async def test_an_undefined_connect_code_is_a_502_as_an_undefined_grpc_code(
    upstream: ScriptedUpstream, client: UpstreamClient
) -> None:
    upstream.script("POST", GET_BOOK, status=500, json={"code": "on_fire", "message": "hot"})
    with pytest.raises(GrpcStatusError) as caught:
        await client.get_json("library", "/books/b1", Card)
    assert (caught.value.status, caught.value.code_name) == (502, "UNDEFINED")
    assert "on_fire" in caught.value.message


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


async def test_a_cancelled_call_is_cancelled_on_the_wire(
    upstream: ScriptedUpstream, client: UpstreamClient
) -> None:
    never = asyncio.Event()

    def stall(seen: Received) -> Script:
        return Script(gate=never)

    upstream.script("POST", GET_BOOK, stall)
    task = asyncio.ensure_future(client.get_json("library", "/books/b1", Card))
    await upstream.wait_for_requests(1)
    task.cancel()
    (seen,) = upstream.received(GET_BOOK)
    await asyncio.wait_for(seen.done.wait(), 5)
    assert seen.cancelled


class _Recording:
    """The HTTP transport under the Connect wire, at the seam: what it was asked to send."""

    def __init__(self, answer: bytes) -> None:
        self.answer = answer
        self.sent: list[UpstreamRequest] = []

    async def send(self, request: UpstreamRequest) -> UpstreamResponse:
        self.sent.append(request)
        return UpstreamResponse(200, {"content-type": PROTO}, self.answer)

    async def aclose(self) -> None:
        pass


BOOK = ("GET", "/books/b1", None)
ADD_BOOK = ("POST", "/shelves/s1/books", b'{"title": "Dune"}')


@pytest.mark.parametrize(
    ("call", "declared", "resent"),
    [(BOOK, None, True), (BOOK, False, False), (ADD_BOOK, None, False), (ADD_BOOK, True, True)],
)
async def test_a_call_may_be_resent_by_the_http_transport_as_the_json_call_could_be(
    routes: list[Binding],
    call: tuple[str, str, bytes | None],
    declared: bool | None,
    resent: bool,
) -> None:
    # A Connect call is always a POST: the JSON call's idempotency is what it carries on.
    http = _Recording(_book(routes, id="b1").SerializeToString())
    wire = GrpcTransport({}, http)
    base = "connect://127.0.0.1:9"
    wire.upstreams["library"] = GrpcUpstream(
        "library", base, "http://127.0.0.1:9", routes, "connect"
    )
    method, path, body = call
    request = UpstreamRequest(
        "library", method, base + path, [], 1.0, body=body, idempotent=declared
    )
    await wire.send(request)
    (sent,) = http.sent
    assert (sent.method, sent.idempotent) == ("POST", resent)
