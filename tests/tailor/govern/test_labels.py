"""Data classes of struct fields: a field's own label, else its struct's default."""

from __future__ import annotations

from typing import Annotated, ClassVar

import msgspec

from tailor.govern.labels import DataClass, Internal, Personal, reachable, struct_fields


class Owner(msgspec.Struct):
    __data_class__: ClassVar[DataClass] = DataClass.PUBLIC
    name: str
    email: Annotated[str, Personal]


class Song(msgspec.Struct):
    title: Annotated[str, msgspec.Meta(min_length=1)]  # a Meta, but no label
    owner: Owner | None
    credits: dict[str, Owner]
    note: Annotated[str, Internal] = ""


class Base(msgspec.Struct, kw_only=True):
    __data_class__: ClassVar[DataClass] = DataClass.INTERNAL
    trace: str = ""


class Screen(Base, kw_only=True):
    heading: str


def _classes(struct: type[msgspec.Struct]) -> dict[str, DataClass | None]:
    return {f.name: f.data_class for f in struct_fields(struct)}


def test_a_field_without_a_label_takes_its_structs_default() -> None:
    assert _classes(Owner) == {"name": DataClass.PUBLIC, "email": DataClass.PERSONAL}


def test_a_field_of_a_struct_without_a_default_is_unlabelled_unless_it_has_a_label() -> None:
    classes = _classes(Song)
    assert classes["title"] is None
    assert classes["note"] is DataClass.INTERNAL


def test_a_field_that_only_holds_structs_needs_no_label_of_its_own() -> None:
    fields = {f.name: f for f in struct_fields(Song)}
    assert fields["owner"].holds == (Owner,) and not fields["owner"].leaf
    assert fields["credits"].holds == (Owner,) and not fields["credits"].leaf
    assert fields["title"].leaf


def test_a_subclass_field_does_not_take_the_default_of_its_base() -> None:
    assert _classes(Screen) == {"trace": DataClass.INTERNAL, "heading": None}


def test_reachable_lists_each_struct_held_once() -> None:
    assert reachable([Song]) == [Song, Owner]


def test_only_personal_and_sensitive_are_guarded() -> None:
    assert [c.value for c in DataClass if c.guarded] == ["personal", "sensitive"]


def test_the_label_is_in_the_json_schema_as_x_data_class() -> None:
    schema = msgspec.json.schema(Owner)["$defs"]["Owner"]["properties"]
    assert schema["email"]["x-data-class"] == "personal"
