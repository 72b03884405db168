"""Config validation: msgspec's errors become one ConfigError naming the full dotted key (through
struct fields, dict keys and list indexes), and config layers deep-merge."""

from __future__ import annotations

from typing import Literal

import msgspec
import pytest

from tailor.errors import ConfigError
from tailor.validation import Count, Port, convert, deep_merge


class Leaf(msgspec.Struct, forbid_unknown_fields=True):
    port: Port = 1
    mode: Literal["fast", "safe"] = "safe"
    first: str = ""
    second: str = ""

    def __post_init__(self) -> None:
        if self.first and not self.second:
            raise ValueError("second must be set along with first")


class Branch(msgspec.Struct, forbid_unknown_fields=True):
    leaf: Leaf | None = None
    leaves: list[Leaf] = msgspec.field(default_factory=list)
    by_name: dict[str, Leaf] = msgspec.field(default_factory=dict)
    counts: dict[str, Count] = msgspec.field(default_factory=dict)


def _refusal(data: dict[str, object], at: str = "") -> ConfigError:
    with pytest.raises(ConfigError) as info:
        convert(data, Branch, at=at)
    return info.value


def test_a_bad_value_in_a_nested_struct_names_its_dotted_key() -> None:
    assert _refusal({"leaf": {"port": 70000}}).key == "leaf.port"


def test_a_bad_value_in_a_list_names_the_index() -> None:
    assert _refusal({"leaves": [{}, {"port": -1}]}).key == "leaves.1.port"


def test_a_bad_value_in_a_table_names_the_entry_not_an_ellipsis() -> None:
    data = {"by_name": {"good": {}, "/v1/home": {"port": -1}}}
    assert _refusal(data).key == "by_name./v1/home.port"


def test_a_bad_scalar_in_a_table_names_its_entry() -> None:
    assert _refusal({"counts": {"a": 1, "b": 0}}).key == "counts.b"


def test_an_unknown_nested_field_is_named() -> None:
    assert _refusal({"leaves": [{"prot": 1}]}).key == "leaves.0.prot"


def test_a_word_outside_a_literal_lists_the_words_allowed() -> None:
    refusal = _refusal({"leaf": {"mode": "turbo"}})
    assert refusal.key == "leaf.mode"
    assert str(refusal) == "invalid config at 'leaf.mode': expected one of 'fast', 'safe'"


def test_a_check_across_fields_names_the_field_its_message_blames() -> None:
    assert _refusal({"leaf": {"first": "x"}}).key == "leaf.second"


def test_the_prefix_places_the_key_in_the_whole_config() -> None:
    assert _refusal({"leaf": {"port": -1}}, at="section").key == "section.leaf.port"


def test_a_refusal_of_the_root_itself_is_named_root() -> None:
    with pytest.raises(ConfigError) as info:
        convert([], Branch)  # type: ignore[arg-type]
    assert info.value.key == "<root>"


def test_deep_merge_lays_nested_tables_over_each_other_key_by_key() -> None:
    base = {"a": {"b": 1, "c": {"d": 2, "e": 3}}, "f": 4}
    assert deep_merge(base, {"a": {"c": {"d": 9}}}) == {
        "a": {"b": 1, "c": {"d": 9, "e": 3}},
        "f": 4,
    }


def test_deep_merge_replaces_what_is_not_a_table_on_both_sides() -> None:
    base = {"a": {"b": 1}, "l": [1, 2]}
    assert deep_merge(base, {"a": 5, "l": [3]}) == {"a": 5, "l": [3]}


def test_deep_merge_leaves_both_layers_unchanged() -> None:
    base = {"a": {"b": 1}}
    override = {"a": {"c": 2}}
    deep_merge(base, override)
    assert base == {"a": {"b": 1}}
    assert override == {"a": {"c": 2}}
