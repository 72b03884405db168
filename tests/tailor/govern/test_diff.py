"""The breaking-change classification of ``python -m tailor.govern diff``."""

from __future__ import annotations

import copy
from typing import Any

from tailor.govern.diff import diff

TRACK = {
    "type": "object",
    "properties": {"id": {"type": "string"}, "title": {"type": "string"}},
    "required": ["id", "title"],
}


def _document(**operation: Any) -> dict[str, Any]:
    op = {
        "parameters": [
            {"name": "limit", "in": "query", "required": False,
             "schema": {"type": "integer", "minimum": 1, "maximum": 50}},
        ],
        "responses": {
            "200": {"description": "OK", "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/Track"}}}},
            "404": {"description": "no such track"},
        },
        **operation,
    }  # fmt: skip
    return {
        "openapi": "3.1.0",
        "paths": {"/v1/tracks/{id}": {"get": op}},
        "components": {"schemas": {"Track": copy.deepcopy(TRACK)}},
    }


def _failing(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    return [c.what for c in diff(old, new) if c.fails]


def _compatible(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    return [c.what for c in diff(old, new) if not c.breaking]


def test_an_identical_document_has_no_change() -> None:
    assert diff(_document(), _document()) == []


def test_removing_an_operation_is_breaking() -> None:
    assert _failing(_document(), {"paths": {}}) == ["operation removed"]


def test_removing_an_operation_the_baseline_deprecated_is_excused() -> None:
    (change,) = diff(_document(deprecated=True), {"paths": {}})
    assert change.breaking and change.excused == "deprecated" and not change.fails


def test_a_new_version_of_a_route_is_an_addition() -> None:
    new = _document()
    new["paths"]["/v2/tracks/{id}"] = new["paths"]["/v1/tracks/{id}"]
    assert _compatible(_document(), new) == ["operation added"]
    assert _failing(_document(), new) == []


def test_a_response_property_removed_is_breaking() -> None:
    new = _document()
    del new["components"]["schemas"]["Track"]["properties"]["title"]
    new["components"]["schemas"]["Track"]["required"] = ["id"]
    assert _failing(_document(), new) == ["response 200.title removed"]


def test_a_response_property_added_is_compatible() -> None:
    new = _document()
    new["components"]["schemas"]["Track"]["properties"]["genre"] = {"type": "string"}
    assert _compatible(_document(), new) == ["response 200.genre added"]


def test_a_response_property_no_longer_always_present_is_breaking() -> None:
    new = _document()
    new["components"]["schemas"]["Track"]["required"] = ["id"]
    assert _failing(_document(), new) == ["response 200.title no longer always present"]


def test_a_response_property_that_may_now_be_null_is_breaking() -> None:
    new = _document()
    new["components"]["schemas"]["Track"]["properties"]["title"] = {
        "anyOf": [{"type": "string"}, {"type": "null"}]
    }
    assert _failing(_document(), new) == ["response 200.title: may now be null"]


def test_a_new_required_parameter_is_breaking_and_an_optional_one_is_not() -> None:
    def adding(required: bool) -> dict[str, Any]:
        new = _document()
        new["paths"]["/v1/tracks/{id}"]["get"]["parameters"].append(
            {"name": "market", "in": "query", "required": required, "schema": {"type": "string"}}
        )
        return new

    assert _failing(_document(), adding(True)) == ["required query parameter market added"]
    assert _failing(_document(), adding(False)) == []


def test_a_tightened_bound_is_breaking_and_a_loosened_one_is_not() -> None:
    def bounded(maximum: int) -> dict[str, Any]:
        new = _document()
        new["paths"]["/v1/tracks/{id}"]["get"]["parameters"][0]["schema"]["maximum"] = maximum
        return new

    assert _failing(_document(), bounded(20)) == ["query parameter limit: maximum 50 -> 20"]
    assert _failing(_document(), bounded(100)) == []


def test_a_request_body_property_now_required_is_breaking() -> None:
    body = {"type": "object", "properties": {"name": {"type": "string"}}, "required": []}
    old = _document(requestBody={"content": {"application/json": {"schema": body}}})
    new = copy.deepcopy(old)
    new["paths"]["/v1/tracks/{id}"]["get"]["requestBody"]["content"]["application/json"]["schema"][
        "required"
    ] = ["name"]
    assert _failing(old, new) == ["body.name now required"]


def test_requiring_a_credential_where_none_was_needed_is_breaking() -> None:
    old = _document(security=[])
    new = _document(security=[{"bearer": []}])
    assert _failing(old, new) == ["a credential is now required"]


def test_a_success_status_removed_is_breaking_and_a_problem_status_removed_is_not() -> None:
    new = _document()
    del new["paths"]["/v1/tracks/{id}"]["get"]["responses"]["404"]
    assert _failing(_document(), new) == []
    del new["paths"]["/v1/tracks/{id}"]["get"]["responses"]["200"]
    assert _failing(_document(), new) == ["response 200 removed"]


def test_a_recursive_schema_is_compared_once() -> None:
    node = {
        "type": "object",
        "properties": {
            "children": {"type": "array", "items": {"$ref": "#/components/schemas/Track"}}
        },
    }
    old = _document()
    old["components"]["schemas"]["Track"] = node
    assert diff(old, copy.deepcopy(old)) == []
