"""Config data into typed structs, for every section of a BFF's config.

Sections declare their bounds as msgspec constraints (:data:`Port`, :data:`Positive`, ``Literal``
for a closed set of words) and msgspec checks them while decoding. Layers of config (a profile's
defaults, a deployment file, a per-upstream override) are combined with :func:`deep_merge`, and
:func:`convert` turns msgspec's error into a :class:`~tailor.errors.ConfigError` naming the full
dotted key, the one place that reads msgspec's error text:

>>> convert({"port": 70000}, dict[str, Port], at="listen")
Traceback (most recent call last):
...
tailor.errors.ConfigError: invalid config at 'listen.port': Expected `int` <= 65535

A check that spans fields stays in the struct's ``__post_init__``, raising ``ValueError`` with
a message that starts with the field it blames (``"cookie_name must ..."``), so the key can
name that field.
"""

from __future__ import annotations

import re
import types
from collections.abc import Mapping
from typing import Annotated, Any, Literal, TypeVar, Union, get_args, get_origin

import msgspec

from tailor.errors import ConfigError

T = TypeVar("T")

Port = Annotated[int, msgspec.Meta(ge=0, le=65535)]
#: A count that must be at least one (a cache size, a limit).
Count = Annotated[int, msgspec.Meta(ge=1)]
#: A duration or size that must be above zero.
Positive = Annotated[float, msgspec.Meta(gt=0)]
#: A duration that may be zero (no wait) but not negative.
NonNegative = Annotated[float, msgspec.Meta(ge=0)]

_AT = re.compile(r" - at `\$(?P<path>[^`]*)`$")
_STEP = re.compile(r"\.(?P<field>[^.\[]+)|\[(?P<index>\d+|\.\.\.)\]")
_NAMED_FIELD = re.compile(r"(?:unknown|missing required) field `(?P<field>[^`]+)`")


def convert(data: Mapping[str, Any], type_: type[T], *, at: str = "") -> T:
    """Validate ``data`` into ``type_``; a failure is a :class:`ConfigError` naming the key,
    prefixed with ``at`` (where ``data`` sits in the whole config)."""
    try:
        return msgspec.convert(data, type_)
    except msgspec.ValidationError as exc:
        key, detail = error_key(exc, data, type_)
        raise ConfigError(".".join(p for p in (at, key) if p) or "<root>", detail) from exc


def error_key(exc: msgspec.ValidationError, data: Any, type_: Any) -> tuple[str, str]:
    """The dotted key ``exc`` is about (``""`` for the root) and what is wrong there.

    msgspec writes a dict's key as ``[...]``; walking ``data`` alongside the types finds the
    entry at fault, so ``cache.routes./v1/home.ttl_s`` names the route.
    """
    message = str(exc)
    match = _AT.search(message)
    detail = message[: match.start()] if match else message
    keys: list[str] = []
    for step in _STEP.finditer(match.group("path") if match else ""):
        type_ = _unwrap(type_, data)
        if step["field"] is not None:
            keys.append(step["field"])
            data = data.get(step["field"]) if isinstance(data, Mapping) else None
            type_ = _field_types(type_).get(step["field"], Any)
        elif step["index"] == "...":
            entry = _failing_entry(data, get_args(type_)[1] if get_args(type_) else Any)
            keys.append(str(entry))
            data = data.get(entry) if isinstance(data, Mapping) else None
            type_ = get_args(type_)[1] if get_args(type_) else Any
        else:
            keys.append(step["index"])
            index = int(step["index"])
            data = data[index] if isinstance(data, list) and index < len(data) else None
            type_ = get_args(type_)[0] if get_args(type_) else Any
    type_ = _unwrap(type_, data)
    if named := _NAMED_FIELD.search(detail):
        keys.append(named["field"])
    elif get_origin(type_) is Literal:
        detail = "expected one of " + ", ".join(repr(v) for v in get_args(type_))
    elif (first := detail.split(" ", 1)[0]) in _field_types(type_):
        keys.append(first)  # a section's own check names the field it blames first
    return ".".join(keys), detail


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``override`` laid over ``base``: tables merge key by key, anything else replaces.

    >>> deep_merge({"listen": {"host": "::1", "port": 1}}, {"listen": {"port": 2}})
    {'listen': {'host': '::1', 'port': 2}}
    """
    merged = dict(base)
    for key, value in override.items():
        below = merged.get(key)
        if isinstance(value, Mapping) and isinstance(below, Mapping):
            merged[key] = deep_merge(below, value)
        else:
            merged[key] = value
    return merged


def _unwrap(type_: Any, data: Any) -> Any:
    """The type that applies to ``data``: without ``Annotated``, and the member of an optional
    or union (``TLS | None``) that ``data`` would decode into."""
    while True:
        if get_origin(type_) is Annotated:
            type_ = get_args(type_)[0]
        elif get_origin(type_) in (Union, types.UnionType):
            members = [t for t in get_args(type_) if t is not type(None)]
            fits = [t for t in members if isinstance(data, Mapping) == _is_struct(_bare(t))]
            type_ = (fits or members)[0]
        else:
            return type_


def _bare(type_: Any) -> Any:
    return get_args(type_)[0] if get_origin(type_) is Annotated else type_


def _is_struct(type_: Any) -> bool:
    return isinstance(type_, type) and issubclass(type_, msgspec.Struct)


def _field_types(type_: Any) -> dict[str, Any]:
    if not _is_struct(type_):
        return {}
    return {f.encode_name: f.type for f in msgspec.structs.fields(type_)}


def _failing_entry(data: Any, value_type: Any) -> str:
    """The first key of the dict ``data`` whose value does not validate as ``value_type``."""
    if isinstance(data, Mapping):
        for key, value in data.items():
            try:
                msgspec.convert(value, value_type)
            except (msgspec.ValidationError, ConfigError):
                return str(key)
    return "[...]"
