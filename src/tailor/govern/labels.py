"""Data classes of struct fields: what each field of a consumed or response struct is.

A field is labelled where it is declared, with a msgspec ``Meta`` in its annotation, so the
label is part of the type: it needs no registry beside the struct, costs nothing when msgspec
decodes or encodes (a ``Meta`` with only ``extra_json_schema`` adds no check), and appears as
``x-data-class`` in every JSON Schema and OpenAPI document generated from the struct. A struct
may set a default for the fields it does not label (``__data_class__``)::

    class Profile(msgspec.Struct):
        __data_class__: ClassVar[DataClass] = DataClass.PUBLIC
        username: str  # public, the struct's default
        city: Annotated[str, Personal] = ""

tailor's own response struct for a lost part is internal throughout:

>>> from tailor.aggregate.engine import Degradation
>>> [(f.name, f.data_class.value) for f in struct_fields(Degradation)]
[('part', 'internal'), ('reason', 'internal'), ('stale', 'internal')]

A field whose type holds structs (``owner: UserCard | None``, ``items: list[Track]``) needs no
label of its own: the fields of those structs carry theirs.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import msgspec
import msgspec.inspect as mi

#: The JSON Schema keyword a field's data class travels under.
SCHEMA_KEY = "x-data-class"


class DataClass(enum.Enum):
    """How far a value may travel, from least to most guarded."""

    PUBLIC = "public"  # anyone may see it: catalog metadata, a public profile
    INTERNAL = "internal"  # operational, about no person: internal ids, flags, cursors
    PERSONAL = "personal"  # about a person beyond their public profile: location, contact
    SENSITIVE = "sensitive"  # credentials and special categories: tokens, secrets, health

    @property
    def guarded(self) -> bool:
        """Whether a response may carry it only through an allow-list entry."""
        return self in (DataClass.PERSONAL, DataClass.SENSITIVE)


def label(data_class: DataClass) -> msgspec.Meta:
    """The annotation that labels a field: ``Annotated[str, label(DataClass.PERSONAL)]``."""
    return msgspec.Meta(extra_json_schema={SCHEMA_KEY: data_class.value})


Public = label(DataClass.PUBLIC)
Internal = label(DataClass.INTERNAL)
Personal = label(DataClass.PERSONAL)
Sensitive = label(DataClass.SENSITIVE)


@dataclass(frozen=True, slots=True)
class FieldClass:
    """One field of a struct: its data class (``None``: unlabelled), or the structs it holds."""

    struct: type[msgspec.Struct]
    name: str
    data_class: DataClass | None
    holds: tuple[type[msgspec.Struct], ...] = ()

    @property
    def key(self) -> str:
        """``Struct.field``, how allow-list entries and the generated page name it."""
        return f"{self.struct.__name__}.{self.name}"

    @property
    def leaf(self) -> bool:
        """A value of its own, not only a holder of other structs: it needs a data class."""
        return self.data_class is not None or not self.holds


def struct_fields(struct: type[msgspec.Struct]) -> list[FieldClass]:
    """Each field of ``struct`` with its data class: its own label, else the struct's default."""
    info = mi.type_info(struct)
    assert isinstance(info, mi.StructType)
    fields = []
    for f in info.fields:
        holds = tuple(dict.fromkeys(_structs_in(f.type)))
        default = None if holds and _only_structs(f.type) else _default(struct, f.name)
        fields.append(FieldClass(struct, f.name, _label_of(f.type) or default, holds))
    return fields


def _default(struct: type[msgspec.Struct], name: str) -> DataClass | None:
    """The default of the struct that declares field ``name``: a subclass's own fields do not
    take its base's default, nor the base's fields the subclass's."""
    for cls in struct.__mro__:
        if name in vars(cls).get("__annotations__", {}):
            found = vars(cls).get("__data_class__")
            return found if isinstance(found, DataClass) else None
    return None


def reachable(roots: list[type[msgspec.Struct]]) -> list[type[msgspec.Struct]]:
    """``roots`` and every struct their fields hold, each once, in first-seen order."""
    seen: dict[type[msgspec.Struct], None] = {}
    todo = list(roots)
    while todo:
        struct = todo.pop(0)
        if struct in seen:
            continue
        seen[struct] = None
        todo.extend(h for f in struct_fields(struct) for h in f.holds)
    return list(seen)


def structs_in(type_: Any) -> list[type[msgspec.Struct]]:
    """The structs a type holds at its top (``Home``, ``list[Track]``, ``dict[str, Card]``);
    none for a type that holds none (``dict``, ``bytes``) or is no type msgspec knows."""
    try:
        info = mi.type_info(type_)
    except TypeError:
        return []
    return list(dict.fromkeys(_structs_in(info)))


def _label_of(t: mi.Type) -> DataClass | None:
    if isinstance(t, mi.Metadata):
        value = (t.extra_json_schema or {}).get(SCHEMA_KEY)
        return DataClass(value) if value is not None else _label_of(t.type)
    return None


def _children(t: mi.Type) -> Iterator[mi.Type]:
    if isinstance(t, mi.Metadata):
        yield t.type
    elif isinstance(t, mi.UnionType):
        yield from t.types
    elif isinstance(t, mi.ListType | mi.SetType | mi.FrozenSetType | mi.VarTupleType):
        yield t.item_type
    elif isinstance(t, mi.TupleType):
        yield from t.item_types
    elif isinstance(t, mi.DictType):
        yield t.value_type


def _structs_in(t: mi.Type) -> Iterator[type[msgspec.Struct]]:
    if isinstance(t, mi.StructType):
        yield t.cls
        return  # the struct's own fields are walked as that struct
    for child in _children(t):
        yield from _structs_in(child)


def _only_structs(t: mi.Type) -> bool:
    """Whether every value the type allows is a struct or a container of them (None aside)."""
    if isinstance(t, mi.StructType | mi.NoneType):
        return True
    children = list(_children(t))
    return bool(children) and all(_only_structs(c) for c in children)
