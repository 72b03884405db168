"""The config's ``governance`` table: which personal or sensitive fields a BFF may expose."""

from __future__ import annotations

from typing import Annotated

import msgspec

#: ``Struct.field``, as :attr:`tailor.govern.labels.FieldClass.key` names a field.
FieldKey = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z_]\w*\.[A-Za-z_]\w*$")]


class Exposure(msgspec.Struct, forbid_unknown_fields=True):
    """One personal or sensitive field this BFF's responses may carry, and why they must.

    The BFF is the one whose config holds the entry; ``field`` is ``Struct.field`` of a
    response struct one of its routes declares."""

    field: FieldKey
    reason: Annotated[str, msgspec.Meta(min_length=8)]


class Governance(msgspec.Struct, forbid_unknown_fields=True):
    expose: list[Exposure] = msgspec.field(default_factory=list)
