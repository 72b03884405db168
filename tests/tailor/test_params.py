"""Typed parameters: each malformed value is refused with a BadRequest naming it."""

from __future__ import annotations

import pytest

from tailor.errors import BadRequest
from tailor.params import Bool, Int, Query, Token, check_path_param, parse_query


def test_int_accepts_a_value_within_its_range() -> None:
    assert Int(5, 1, 10).parse("limit", "10") == 10


def test_int_uses_its_default_when_absent_or_blank() -> None:
    assert Int(5).parse("limit", None) == 5
    assert Int(5).parse("limit", "") == 5


@pytest.mark.parametrize("raw", ["-1", "1.5", "1e3", "0x10", " 3", "12345678901"])
def test_int_refuses_anything_but_plain_digits(raw: str) -> None:
    with pytest.raises(BadRequest) as info:
        Int(5).parse("limit", raw)
    assert info.value.parameter == "limit"


def test_int_refuses_a_value_above_its_range() -> None:
    with pytest.raises(BadRequest) as info:
        Int(5, 1, 10).parse("limit", "11")
    assert info.value.parameter == "limit"


def test_int_refuses_a_value_below_its_range() -> None:
    with pytest.raises(BadRequest):
        Int(5, 1, 10).parse("limit", "0")


def test_token_is_none_when_absent() -> None:
    assert Token().parse("cursor", None) is None


@pytest.mark.parametrize("raw", ["a b", "a/b", "a\nb", "x" * 257, "%2e%2e"])
def test_token_refuses_unprintable_or_oversized_values(raw: str) -> None:
    with pytest.raises(BadRequest) as info:
        Token().parse("cursor", raw)
    assert info.value.parameter == "cursor"


def test_parse_query_ignores_undeclared_parameters() -> None:
    assert parse_query({"limit": Int(5)}, {"limit": "3", "debug": "1"}) == {"limit": 3}


@pytest.mark.parametrize("value", ["u1", "track_9-x", "A" * 64])
def test_path_parameter_accepts_opaque_ids(value: str) -> None:
    check_path_param("id", value)


@pytest.mark.parametrize("value", ["..", "a.b", "a/b", "%2F", "-lead", "A" * 65, "a b"])
def test_path_parameter_refuses_anything_but_an_opaque_id(value: str) -> None:
    with pytest.raises(BadRequest) as info:
        check_path_param("id", value)
    assert info.value.parameter == "id"


@pytest.mark.parametrize(
    ("raw", "value"), [("true", True), ("1", True), ("false", False), ("0", False)]
)
def test_bool_reads_true_false_one_and_zero(raw: str, value: bool) -> None:
    assert Bool().parse("exact", raw) is value


def test_bool_uses_its_default_when_absent_or_blank() -> None:
    assert Bool(default=True).parse("exact", None) is True
    assert Bool(default=True).parse("exact", "") is True


@pytest.mark.parametrize("raw", ["yes", "TRUE", "2", " 1"])
def test_bool_refuses_anything_else(raw: str) -> None:
    with pytest.raises(BadRequest) as info:
        Bool().parse("exact", raw)
    assert info.value.parameter == "exact"


class _Search(Query):
    q = Token(max_length=8)
    limit = Int(20, 1, 50)


class _PagedSearch(_Search):
    exact = Bool()


def test_a_query_class_parses_each_declared_parameter_into_an_attribute() -> None:
    params = _Search.parse({"q": "drum", "limit": "5", "debug": "1"})
    assert (params.q, params.limit) == ("drum", 5)
    assert not hasattr(params, "debug")


def test_a_query_subclass_declares_its_parents_parameters_too() -> None:
    assert list(_PagedSearch.spec) == ["q", "limit", "exact"]


def test_a_query_class_refuses_a_malformed_value_naming_it() -> None:
    with pytest.raises(BadRequest) as info:
        _Search.parse({"limit": "500"})
    assert info.value.parameter == "limit"
