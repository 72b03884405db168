"""Transcoded routes (tailor.transcode) from the test service's descriptors: what startup
refuses, naming the method, and the contract struct a route answers with."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from tailor.errors import ConfigError
from tailor.params import Bool, Int, Token
from tailor.transcode import transcoded_routes


def test_a_rule_whose_body_names_a_field_stops_startup_naming_it(descriptor_set: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        transcoded_routes("library", "library.v1.BrokenService", [str(descriptor_set)])
    assert caught.value.key == "grpc method library.v1.BrokenService.PutBook"


def test_a_service_missing_from_the_descriptors_stops_startup_naming_the_key(
    descriptor_set: Path,
) -> None:
    with pytest.raises(ConfigError) as caught:
        transcoded_routes("library", "library.v1.Nowhere", [str(descriptor_set)])
    assert caught.value.key == "grpc.services.library"


def test_a_published_field_the_message_lacks_stops_startup(descriptor_set: Path) -> None:
    with pytest.raises(ConfigError, match="no field 'colour'"):
        transcoded_routes(
            "library", "library.v1.LibraryService", [str(descriptor_set)],
            fields={"GetBook": ["id", "colour"]},
        )  # fmt: skip


def test_each_get_rule_becomes_a_route_with_typed_query_parameters(descriptor_set: Path) -> None:
    routes = transcoded_routes(
        "library", "library.v1.LibraryService", [str(descriptor_set)], prefix="/v1"
    )
    by_template = {r.template: r for r in routes}
    assert set(by_template) == {"/v1/books/shelf", "/v1/books/{book_id}", "/v1/books"}
    query = by_template["/v1/books"].query
    assert (type(query["ids"]), type(query["limit"]), type(query["in_print"])) == (Token, Int, Bool)


def test_a_command_rule_is_not_transcoded(descriptor_set: Path) -> None:
    routes = transcoded_routes("library", "library.v1.LibraryService", [str(descriptor_set)])
    assert "AddBook" not in {r.method for r in routes}
    assert {r.method for r in routes} == {"GetBook", "BatchGetBooks", "GetShelf"}


def test_the_route_answers_the_published_fields_of_the_response(descriptor_set: Path) -> None:
    (route,) = [
        r
        for r in transcoded_routes(
            "library",
            "library.v1.LibraryService",
            [str(descriptor_set)],
            fields={"GetBook": ["id", "author.name"]},
        )
        if r.method == "GetBook"
    ]
    book = msgspec.json.decode(
        b'{"id": "b1", "isbn": "x", "author": {"name": "A"}}', type=route.into
    )
    assert msgspec.to_builtins(book) == {"id": "b1", "author": {"name": "A"}}
