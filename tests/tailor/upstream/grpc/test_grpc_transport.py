"""The gRPC transport against a real gRPC server on loopback: an HTTP-shaped call becomes the
method its http rule names, the consumed struct decides the read mask and the decoding, and
statuses, deadlines and cancellation behave as tailor's exception tree says."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import msgspec
import pytest
from google.protobuf.message import Message
from google.rpc import error_details_pb2
from library_server import ScriptedGrpc

from tailor.aggregate import Engine, Part, Plan
from tailor.config import ResilienceSettings
from tailor.errors import UpstreamDecodeError, UpstreamTimeout, UpstreamUnavailable
from tailor.resilience.runtime import Resilience
from tailor.resilience.transport import ResilientTransport
from tailor.upstream import ServiceRegistry, UpstreamClient
from tailor.upstream.grpc.status import DETAILS_TRAILER, GrpcStatusError, encode_status
from tailor.upstream.grpc.transport import GrpcTransport
from tailor.upstream.transport import UpstreamRequest


class AuthorCard(msgspec.Struct):
    name: str


class BookCard(msgspec.Struct):
    id: str
    title: str
    pages: int
    author: AuthorCard | None = None
    subtitle: str | None = None


class Books(msgspec.Struct):
    items: list[BookCard]


def call(
    library: ScriptedGrpc, path: str, into: Any = None, timeout_s: float = 2.0
) -> UpstreamRequest:
    url = f"grpc://127.0.0.1:{library.port}{path}"
    headers = [("accept", "application/json"), ("x-request-id", "r1"), ("x-deadline-ms", "2000")]
    return UpstreamRequest("library", "GET", url, headers, timeout_s, into=into)


def command(library: ScriptedGrpc, path: str, body: bytes, into: Any = None) -> UpstreamRequest:
    url = f"grpc://127.0.0.1:{library.port}{path}"
    headers = [("content-type", "application/json"), ("x-deadline-ms", "2000")]
    return UpstreamRequest("library", "POST", url, headers, 2.0, body, into=into)


def book(library: ScriptedGrpc, **values: Any) -> Message:
    return library.message("GetBook", **values)


async def test_a_get_is_sent_as_the_method_its_http_rule_names(
    library: ScriptedGrpc, transport: GrpcTransport
) -> None:
    async def get_book(request: Message, context: Any) -> Message:
        return book(library, id=request.book_id, title="Dune")

    library.scripts["GetBook"] = get_book
    response = await transport.send(call(library, "/books/b1", BookCard))
    assert [r[0] for r in library.received] == ["GetBook"]
    assert response.value == BookCard("b1", "Dune", 0)


async def test_a_literal_route_is_not_taken_for_a_path_variable(
    library: ScriptedGrpc, transport: GrpcTransport
) -> None:
    async def shelf(request: Message, context: Any) -> Message:
        return library.message("GetShelf", name="new")

    library.scripts["GetShelf"] = shelf
    await transport.send(call(library, "/books/shelf"))
    assert [r[0] for r in library.received] == ["GetShelf"]


async def test_query_parameters_fill_the_request_fields_by_type(
    library: ScriptedGrpc, transport: GrpcTransport
) -> None:
    async def batch(request: Message, context: Any) -> Message:
        return library.message("BatchGetBooks")

    library.scripts["BatchGetBooks"] = batch
    await transport.send(call(library, "/books?ids=b1,b%202&limit=5&in_print=true", Books))
    sent = library.received[0][1]
    assert (list(sent.ids), sent.limit, sent.in_print) == (["b1", "b 2"], 5, True)


async def test_the_consumed_struct_decides_the_read_mask(
    library: ScriptedGrpc, transport: GrpcTransport
) -> None:
    async def batch(request: Message, context: Any) -> Message:
        return library.message("BatchGetBooks")

    library.scripts["BatchGetBooks"] = batch
    await transport.send(call(library, "/books?ids=b1", Books))
    mask = list(library.received[0][1].read_mask.paths)
    assert mask == ["items.id", "items.title", "items.pages", "items.author.name", "items.subtitle"]


async def test_the_answer_is_decoded_into_the_consumed_struct_with_presence(
    library: ScriptedGrpc, transport: GrpcTransport
) -> None:
    async def batch(request: Message, context: Any) -> Message:
        items = [
            book(library, id="b1", title="Dune", pages=412, isbn="x", subtitle=""),
            book(library, id="b2", title="Emma", author={"name": "Austen", "email": "e"}),
        ]
        return library.message("BatchGetBooks", items=items)

    library.scripts["BatchGetBooks"] = batch
    response = await transport.send(call(library, "/books?ids=b1,b2", Books))
    assert response.value == Books(
        [BookCard("b1", "Dune", 412, None, ""), BookCard("b2", "Emma", 0, AuthorCard("Austen"))]
    )


async def test_headers_travel_as_metadata_and_the_timeout_as_the_grpc_deadline(
    library: ScriptedGrpc, transport: GrpcTransport
) -> None:
    async def get_book(request: Message, context: Any) -> Message:
        return book(library, id="b1")

    library.scripts["GetBook"] = get_book
    await transport.send(call(library, "/books/b1", BookCard, timeout_s=30.0))
    _, _, metadata, remaining = library.received[0]
    assert metadata["x-request-id"] == "r1"
    assert "x-deadline-ms" not in metadata and "accept" not in metadata
    # 30 s less the time in flight (grpc-timeout rounds up to its unit)
    assert remaining is not None and 20 < remaining < 31


async def test_a_call_outliving_its_timeout_is_cancelled_and_the_service_sees_it(
    library: ScriptedGrpc, transport: GrpcTransport
) -> None:
    async def stall(request: Message, context: Any) -> Message:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    library.scripts["GetBook"] = stall
    with pytest.raises(UpstreamTimeout):
        await transport.send(call(library, "/books/b1", BookCard, timeout_s=0.2))
    await asyncio.wait_for(library.cancelled.wait(), 5)


async def test_a_cancelled_call_is_cancelled_on_the_wire(
    library: ScriptedGrpc, transport: GrpcTransport
) -> None:
    started = asyncio.Event()

    async def stall(request: Message, context: Any) -> Message:
        started.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    library.scripts["GetBook"] = stall
    task = asyncio.ensure_future(transport.send(call(library, "/books/b1", BookCard)))
    await asyncio.wait_for(started.wait(), 5)
    task.cancel()
    await asyncio.wait_for(library.cancelled.wait(), 5)


async def test_a_status_becomes_its_http_status_with_the_google_rpc_details(
    library: ScriptedGrpc, transport: GrpcTransport
) -> None:
    async def missing(request: Message, context: Any) -> Message:
        info = error_details_pb2.ErrorInfo(reason="NO_BOOK", domain="library")
        trailer = ((DETAILS_TRAILER, encode_status(5, "no book b9", [info])),)
        await context.abort(grpc.StatusCode.NOT_FOUND, "no book b9", trailing_metadata=trailer)
        raise AssertionError("unreachable")

    library.scripts["GetBook"] = missing
    response = await transport.send(call(library, "/books/b9", BookCard))
    assert response.status == 404
    assert isinstance(response.error, GrpcStatusError)
    assert (response.error.code_name, response.error.message) == ("NOT_FOUND", "no book b9")
    assert response.error.details == [
        {
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "NO_BOOK",
            "domain": "library",
        }
    ]


async def test_a_command_s_json_body_fills_its_request_beside_the_path(
    library: ScriptedGrpc, transport: GrpcTransport
) -> None:
    async def add_book(request: Message, context: Any) -> Message:
        return book(library, id="b7", title=request.title, pages=request.pages)

    library.scripts["AddBook"] = add_book
    body = b'{"title": "Dune", "pages": 412}'
    response = await transport.send(command(library, "/shelves/s1/books", body, BookCard))
    assert response.value == BookCard("b7", "Dune", 412)
    ((name, sent, _, _),) = library.received
    assert (name, sent.shelf, sent.title, sent.pages) == ("AddBook", "s1", "Dune", 412)


async def test_a_body_field_the_request_lacks_is_a_decode_error(
    library: ScriptedGrpc, transport: GrpcTransport
) -> None:
    with pytest.raises(UpstreamDecodeError, match="no body field 'colour'"):
        await transport.send(command(library, "/shelves/s1/books", b'{"colour": "red"}'))
    assert library.received == []


async def refuse(context: Any, code: grpc.StatusCode, http_status: str) -> None:
    info = error_details_pb2.ErrorInfo(reason="R", metadata={"http_status": http_status})
    trailer = ((DETAILS_TRAILER, encode_status(code.value[0], "no", [info])),)
    await context.abort(code, "no", trailing_metadata=trailer)


async def test_a_failure_is_the_http_status_its_error_info_names_for_its_code(
    library: ScriptedGrpc, transport: GrpcTransport
) -> None:
    async def stale(request: Message, context: Any) -> Message:
        await refuse(context, grpc.StatusCode.FAILED_PRECONDITION, "428")
        raise AssertionError("unreachable")

    library.scripts["AddBook"] = stale
    response = await transport.send(command(library, "/shelves/s1/books", b"{}"))
    assert response.status == 428


async def test_an_error_info_status_of_another_code_is_ignored(
    library: ScriptedGrpc, transport: GrpcTransport
) -> None:
    async def lying(request: Message, context: Any) -> Message:
        await refuse(context, grpc.StatusCode.FAILED_PRECONDITION, "404")
        raise AssertionError("unreachable")

    library.scripts["AddBook"] = lying
    response = await transport.send(command(library, "/shelves/s1/books", b"{}"))
    assert response.status == 400


async def test_unavailable_is_raised_as_upstream_unavailable(
    library: ScriptedGrpc, transport: GrpcTransport
) -> None:
    async def down(request: Message, context: Any) -> Message:
        await context.abort(grpc.StatusCode.UNAVAILABLE, "draining")
        raise AssertionError("unreachable")

    library.scripts["GetBook"] = down
    with pytest.raises(UpstreamUnavailable):
        await transport.send(call(library, "/books/b1", BookCard))


async def test_a_truncated_message_is_a_decode_error(
    library: ScriptedGrpc, transport: GrpcTransport
) -> None:
    async def truncated(request: Message, context: Any) -> bytes:
        return bytes(book(library, id="b1", title="Dune").SerializeToString())[:-2]

    library.scripts["GetBook"] = truncated
    with pytest.raises(UpstreamDecodeError):
        await transport.send(call(library, "/books/b1", BookCard))


async def test_a_message_missing_what_the_struct_requires_is_a_decode_error(
    library: ScriptedGrpc, transport: GrpcTransport
) -> None:
    class NeedsAuthor(msgspec.Struct):
        id: str
        author: AuthorCard

    async def anonymous(request: Message, context: Any) -> Message:
        return book(library, id="b1")

    library.scripts["GetBook"] = anonymous
    with pytest.raises(UpstreamDecodeError):
        await transport.send(call(library, "/books/b1", NeedsAuthor))


async def test_a_refused_connection_is_upstream_unavailable(library: ScriptedGrpc) -> None:
    await library.server.stop(0)
    transport = GrpcTransport({"library": library.upstream()})
    try:
        with pytest.raises(UpstreamUnavailable):
            await transport.send(call(library, "/books/b1", BookCard, timeout_s=1.0))
    finally:
        await transport.aclose()


def _engine(library: ScriptedGrpc, transport: GrpcTransport, **retry: Any) -> Engine:
    settings = msgspec.convert({"default": {"retry": retry}} if retry else {}, ResilienceSettings)
    resilience = Resilience(settings, ["library"])
    registry = ServiceRegistry({"library": f"grpc://127.0.0.1:{library.port}"})
    client = UpstreamClient(registry, ResilientTransport(transport, resilience))
    return Engine(client, resilience)


async def test_an_unavailable_read_is_retried(
    library: ScriptedGrpc, transport: GrpcTransport
) -> None:
    async def flaky(request: Message, context: Any) -> Message:
        if len(library.received) == 1:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "draining")
        return book(library, id="b1", title="Dune")

    library.scripts["GetBook"] = flaky
    plan = Plan((Part("book", "library", "/books/b1", into=BookCard),))
    result = await _engine(library, transport).run(plan, {})
    assert (result["book"].title, len(library.received)) == ("Dune", 2)


async def test_a_status_that_a_retry_would_repeat_is_not_retried(
    library: ScriptedGrpc, transport: GrpcTransport
) -> None:
    async def broken(request: Message, context: Any) -> Message:
        await context.abort(grpc.StatusCode.INTERNAL, "bug")
        raise AssertionError("unreachable")

    library.scripts["GetBook"] = broken
    plan = Plan((Part("book", "library", "/books/b1", into=BookCard),))
    with pytest.raises(GrpcStatusError):
        await _engine(library, transport).run(plan, {})
    assert len(library.received) == 1


async def test_a_malformed_optional_part_is_marked_degraded(
    library: ScriptedGrpc, transport: GrpcTransport
) -> None:
    async def truncated(request: Message, context: Any) -> bytes:
        return b"\x0a\x05b1"  # field 1 says five bytes follow; two do

    library.scripts["GetBook"] = truncated
    plan = Plan((Part("book", "library", "/books/b1", into=BookCard, required=False),))
    result = await _engine(library, transport).run(plan, {})
    assert result["book"] is None
    assert [(d.part, d.reason) for d in result.degraded] == [("book", "malformed")]
