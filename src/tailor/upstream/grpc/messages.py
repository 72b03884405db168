"""A consumed msgspec struct against a response message: the read mask it needs, and a
converter from the message straight into the struct.

The struct is the BFF's consumer contract (docs/writing-a-bff.md): the fields it declares are
the fields the BFF reads, so they are what the call asks for (``read_mask``) and all that is
copied out of the message. Both are worked out once per (message type, struct) and kept.

The converter is generated Python source, one function per struct, compiled once: reading a
field of a upb message is an attribute access, so a generated ``Track(id=m.id, ...)`` costs a
few attribute reads per field, where a loop over field descriptors would cost a dictionary
walk and a call per field on every message of every response.

>>> import msgspec
>>> from google.protobuf import descriptor_pb2
>>> class Card(msgspec.Struct):
...     name: str
...     tags: list[str] = []
>>> source = descriptor_pb2.DescriptorProto  # any message type will do for the mask
>>> read_mask(source.DESCRIPTOR, Card)
['name']
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import msgspec
from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from tailor.errors import TailorError
from tailor.upstream.grpc.descriptors import INT_TYPES

Converter = Callable[[Message], Any]

_SCALARS = (
    msgspec.inspect.StrType,
    msgspec.inspect.IntType,
    msgspec.inspect.FloatType,
    msgspec.inspect.BoolType,
)


class ContractMismatch(TailorError):
    """A consumed struct asks for a field the message type does not have, or has with
    another type: a consumer contract the service's proto cannot meet."""


def read_mask(descriptor: Descriptor, into: Any) -> list[str]:
    """The FieldMask paths of ``descriptor`` that ``into`` consumes (repeated message fields
    are walked through: ``items.title``); fields the message lacks are left out."""
    info = msgspec.inspect.type_info(into)
    if not isinstance(info, msgspec.inspect.StructType):
        return []
    return _paths(descriptor, info, "")


def mask_tree(paths: Sequence[str]) -> dict[str, Any]:
    """FieldMask paths as a tree (an empty dict: the whole field).

    >>> mask_tree(["items.id", "items.media.stream_url"])
    {'items': {'id': {}, 'media': {'stream_url': {}}}}
    """
    tree: dict[str, Any] = {}
    for path in paths:
        node = tree
        for name in path.split("."):
            node = node.setdefault(name, {})
    return tree


def frame(message: bytes) -> bytes:
    """``message`` as gRPC's length-prefixed message: not compressed, its size in 4 bytes.

    >>> frame(b"ab")
    b'\\x00\\x00\\x00\\x00\\x02ab'
    """
    return b"\x00" + len(message).to_bytes(4, "big") + message


def grpc_timeout(timeout_s: float) -> bytes:
    """The gRPC deadline header's value: at most 8 digits and a unit, rounded up.

    >>> grpc_timeout(0.25), grpc_timeout(200_000)
    (b'250m', b'200000S')
    """
    ms = max(1, math.ceil(timeout_s * 1000))
    return f"{ms}m".encode() if ms < 100_000_000 else f"{math.ceil(timeout_s)}S".encode()


#: grpc-timeout's units, in seconds.
_TIMEOUT_UNITS = {72: 3600.0, 77: 60.0, 83: 1.0, 109: 1e-3, 117: 1e-6, 110: 1e-9}  # H M S m u n


def parse_grpc_timeout(value: bytes) -> float | None:
    """The seconds a ``grpc-timeout`` value gives the call; None when it is not one (at most
    8 digits then a unit), which, as grpc's servers do, leaves the call without a deadline.

    >>> parse_grpc_timeout(b"250m"), parse_grpc_timeout(b"2S"), parse_grpc_timeout(b"2x")
    (0.25, 2.0, None)
    """
    digits = value[:-1]
    unit = _TIMEOUT_UNITS.get(value[-1]) if value else None
    if unit is None or not 0 < len(digits) <= 8 or not digits.isdigit():
        return None
    return int(digits) * unit


def _paths(descriptor: Descriptor, info: msgspec.inspect.StructType, prefix: str) -> list[str]:
    out: list[str] = []
    for field in info.fields:
        proto = descriptor.fields_by_name.get(field.encode_name)
        if proto is None:
            continue
        nested = _struct_of(field.type)
        if proto.type == FieldDescriptor.TYPE_MESSAGE and nested is not None:
            out.extend(_paths(proto.message_type, nested, f"{prefix}{proto.name}."))
        else:
            out.append(prefix + proto.name)
    return out


def _bare(kind: msgspec.inspect.Type) -> msgspec.inspect.Type:
    """``kind`` without its ``Annotated`` metadata (a field's data class, a constraint): what
    the wire carries is the type underneath."""
    while isinstance(kind, msgspec.inspect.Metadata):
        kind = kind.type
    return kind


def _struct_of(kind: msgspec.inspect.Type) -> msgspec.inspect.StructType | None:
    """The struct a field holds: directly, optionally, or as list items."""
    kind = _bare(kind)
    if isinstance(kind, msgspec.inspect.UnionType):
        kinds = [_bare(k) for k in kind.types if not isinstance(k, msgspec.inspect.NoneType)]
        kind = kinds[0] if len(kinds) == 1 else kind
    if isinstance(kind, msgspec.inspect.ListType):
        kind = _bare(kind.item_type)
    return kind if isinstance(kind, msgspec.inspect.StructType) else None


def converter(descriptor: Descriptor, into: Any) -> Converter:
    """A function from a message of type ``descriptor`` to ``into``. For a struct it is
    generated (raising :class:`ContractMismatch` when the two cannot agree); for anything
    else (``dict``, ``Any``) it goes through the message's JSON mapping."""
    info = msgspec.inspect.type_info(into)
    if not isinstance(info, msgspec.inspect.StructType):

        def generic(message: Message) -> Any:
            raw = json_format.MessageToDict(message, preserving_proto_field_name=True)
            return msgspec.convert(raw, into)

        return generic
    namespace: dict[str, Any] = {}
    lines: list[str] = []
    name = _generate(descriptor, info, namespace, lines)
    # The source is built here from descriptors and struct fields only, never from input.
    exec("\n".join(lines), namespace)
    made: Converter = namespace[name]
    return made


def _generate(
    descriptor: Descriptor,
    info: msgspec.inspect.StructType,
    namespace: dict[str, Any],
    lines: list[str],
) -> str:
    name = f"_to_{info.cls.__name__}_{len(namespace)}"
    namespace[name] = None  # reserve the name before recursing
    cls_name = f"_cls_{len(namespace)}"
    namespace[cls_name] = info.cls
    args: list[str] = []
    for field in info.fields:
        proto = descriptor.fields_by_name.get(field.encode_name)
        if proto is None:
            if field.required:
                raise ContractMismatch(
                    f"{descriptor.full_name} has no field '{field.encode_name}' "
                    f"({info.cls.__name__} requires it)"
                )
            continue
        args.append(f"{field.name}={_expression(proto, field, namespace, lines)}")
    lines.append(f"def {name}(m):\n    return {cls_name}({', '.join(args)})")
    return name


def _expression(
    proto: FieldDescriptor,
    field: msgspec.inspect.Field,
    namespace: dict[str, Any],
    lines: list[str],
) -> str:
    kind = _bare(field.type)
    optional = False
    if isinstance(kind, msgspec.inspect.UnionType):
        kinds = [_bare(k) for k in kind.types if not isinstance(k, msgspec.inspect.NoneType)]
        optional = len(kinds) < len(kind.types)
        if optional and len(kinds) == 1:
            kind = kinds[0]
    access = f"m.{proto.name}"
    repeated = bool(proto.is_repeated)
    where = f"{proto.containing_type.full_name}.{proto.name}"
    if repeated:
        if not isinstance(kind, msgspec.inspect.ListType):
            raise ContractMismatch(f"{where} is repeated; the struct's field is not a list")
        item = _bare(kind.item_type)
        if proto.type == FieldDescriptor.TYPE_MESSAGE:
            if not isinstance(item, msgspec.inspect.StructType):
                raise ContractMismatch(f"{where} holds messages; the struct's list does not")
            inner = _generate(proto.message_type, item, namespace, lines)
            return f"[{inner}(x) for x in {access}]"
        _check_scalar(proto, item, where)
        return f"list({access})"
    if proto.type == FieldDescriptor.TYPE_MESSAGE:
        if not isinstance(kind, msgspec.inspect.StructType):
            raise ContractMismatch(f"{where} is a message; the struct's field is not a struct")
        inner = _generate(proto.message_type, kind, namespace, lines)
        # A message field that is not set is the JSON API's null: None where the struct
        # allows it, else the response does not match the contract (as the JSON decode says).
        namespace["_absent"] = _absent
        missing = "None" if optional else f"_absent('{where}')"
        return f"({inner}({access}) if m.HasField('{proto.name}') else {missing})"
    _check_scalar(proto, kind, where)
    if optional and proto.has_presence:
        return f"({access} if m.HasField('{proto.name}') else None)"
    return access


def _absent(where: str) -> Any:
    raise ContractMismatch(f"{where} is not set, and the consumed struct requires it")


def _check_scalar(proto: FieldDescriptor, kind: msgspec.inspect.Type, where: str) -> None:
    expected = _PYTHON_TYPES.get(proto.type)
    if expected is None or not isinstance(_bare(kind), expected):
        raise ContractMismatch(f"{where} does not have the type of the struct's field")


_INT = msgspec.inspect.IntType
_PYTHON_TYPES: dict[int, tuple[type[Any], ...]] = {
    FieldDescriptor.TYPE_STRING: (msgspec.inspect.StrType,),
    FieldDescriptor.TYPE_BOOL: (msgspec.inspect.BoolType,),
    FieldDescriptor.TYPE_DOUBLE: (msgspec.inspect.FloatType,),
    FieldDescriptor.TYPE_FLOAT: (msgspec.inspect.FloatType,),
    **dict.fromkeys(INT_TYPES, (_INT,)),
    FieldDescriptor.TYPE_ENUM: (_INT,),
}
