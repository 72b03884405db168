"""Descriptor sets -> message classes and http-rule bindings.

A binding is one method of a service and the route its ``google.api.http`` rule gives it:
the verb, the path template (literal segments and ``{field}`` variables, each one segment)
and the request fields the path fills. Query parameters fill the request's other top-level
fields, or, for a rule with ``body: "*"`` (a command's POST, PUT or PATCH), the JSON body
does. A rule this mapping cannot express (a body on a GET or DELETE, a body that names one
field, ``**`` or a nested field in the path, a custom verb, a path variable that is not a
scalar field of the request) stops startup with a :class:`~tailor.errors.ConfigError` naming
the method.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from google.api import annotations_pb2, http_pb2
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor
from google.protobuf.message import DecodeError, Message

from tailor.errors import ConfigError

_VARIABLE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?:=\*)?\}")
_VERBS = ("get", "put", "post", "delete", "patch")
READ_MASK = "read_mask"


@dataclass(frozen=True, slots=True)
class Binding:
    """One method and its http rule.

    ``path`` fields are filled from the template's variables, in order; ``query`` maps the
    other scalar (or repeated scalar) fields of the request by name, unless ``body`` (the
    rule's ``body: "*"``) says the JSON body holds every field the path does not.
    """

    method: str  # "/package.Service/Method", the gRPC path
    verb: str  # "GET", ...
    template: str  # "/users/{user_id}"
    pattern: re.Pattern[str] | None  # None: a literal template
    path_fields: tuple[str, ...]
    query: dict[str, FieldDescriptor]
    request: type[Message]
    response: type[Message]
    has_read_mask: bool
    body: bool = False
    # path and query field name -> its value from the text (field_value, the field's type
    # looked up once here rather than on every call)
    readers: dict[str, Callable[[str], Any]] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.method.rsplit("/", 1)[-1]

    def match(self, path: str) -> dict[str, str] | None:
        """The path variables when ``path`` is this rule's route, else None."""
        if self.pattern is None:
            return {} if path == self.template else None
        found = self.pattern.fullmatch(path)
        if found is None:
            return None
        return dict(zip(self.path_fields, found.groups(), strict=True))


def load_pool(paths: Iterable[str | Path]) -> descriptor_pool.DescriptorPool:
    """A pool of every file in the descriptor sets at ``paths`` (``protoc --include_imports
    --descriptor_set_out``)."""
    pool = descriptor_pool.DescriptorPool()
    seen: set[str] = set()
    for index, path in enumerate(paths):
        try:
            data = Path(path).read_bytes()
            files = descriptor_pb2.FileDescriptorSet.FromString(data).file
        except (OSError, ValueError, DecodeError) as exc:
            key = f"grpc.descriptor_sets[{index}]"
            raise ConfigError(key, f"cannot load {path}: {exc}") from exc
        for file in files:
            if file.name not in seen:
                seen.add(file.name)
                pool.Add(file)
    return pool


def message_class(descriptor: Descriptor) -> type[Message]:
    return message_factory.GetMessageClass(descriptor)  # type: ignore[no-any-return]


def bindings(pool: descriptor_pool.DescriptorPool, service: str, key: str) -> list[Binding]:
    """Every method of ``service`` that has an http rule, bound; ``key`` names the config
    entry that asked for the service (for the startup error)."""
    try:
        found = pool.FindServiceByName(service)
    except KeyError:
        raise ConfigError(key, f"no service '{service}' in the descriptor sets") from None
    out = []
    for method in found.methods:
        rule = _http_rule(method)
        if rule is not None:
            out.append(bind(method, rule))
    # Literal routes first, so "/users/batch" is never taken for "/users/{user_id}".
    out.sort(key=lambda b: b.pattern is not None)
    return out


def _http_rule(method: MethodDescriptor) -> http_pb2.HttpRule | None:
    proto = descriptor_pb2.MethodDescriptorProto()
    method.CopyToProto(proto)
    options = proto.options
    if not options.HasExtension(annotations_pb2.http):
        return None
    rule: http_pb2.HttpRule = options.Extensions[annotations_pb2.http]
    return rule


def bind(method: MethodDescriptor, rule: http_pb2.HttpRule) -> Binding:
    """The binding of ``method`` under ``rule``; ConfigError naming the method when the rule
    cannot be mapped."""
    where = f"grpc method {method.full_name}"
    verb = rule.WhichOneof("pattern")
    if verb not in _VERBS:
        raise ConfigError(where, f"http rule '{verb}' is not one of {', '.join(_VERBS)}")
    template: str = getattr(rule, verb)
    if rule.additional_bindings:
        raise ConfigError(where, "additional_bindings are not supported")
    if verb in ("get", "delete") and rule.body:
        raise ConfigError(where, f"a {verb.upper()} rule cannot take a body")
    if rule.body and rule.body != "*":
        raise ConfigError(where, f"body '{rule.body}': only body \"*\" is supported")
    if not template.startswith("/") or ":" in template or "**" in template:
        raise ConfigError(where, f"path template '{template}' cannot be mapped")
    request = method.input_type
    path_fields = tuple(_VARIABLE.findall(template))
    for name in path_fields:
        field = request.fields_by_name.get(name)
        if field is None or field.type == FieldDescriptor.TYPE_MESSAGE or _repeated(field):
            raise ConfigError(
                where, f"path variable '{name}' is not a scalar field of {request.full_name}"
            )
    literal = _VARIABLE.sub("", template)
    if "{" in literal or "}" in literal:
        raise ConfigError(where, f"path template '{template}' cannot be mapped")
    pattern = None
    if path_fields:
        pieces = _VARIABLE.split(template)
        # split() alternates literal text and variable names: escape the text, capture a segment
        regex = "".join(re.escape(p) if i % 2 == 0 else "([^/]+)" for i, p in enumerate(pieces))
        pattern = re.compile(regex)
    query = {
        f.name: f
        for f in request.fields
        if not rule.body and f.name not in path_fields and f.type != FieldDescriptor.TYPE_MESSAGE
    }
    mask = request.fields_by_name.get(READ_MASK)
    has_mask = mask is not None and mask.message_type.full_name == "google.protobuf.FieldMask"
    service = method.containing_service.full_name
    readers = {name: reader(request.fields_by_name[name]) for name in (*path_fields, *query)}
    return Binding(
        method=f"/{service}/{method.name}",
        verb=verb.upper(),
        template=template,
        pattern=pattern,
        path_fields=path_fields,
        query=query,
        request=message_class(request),
        response=message_class(method.output_type),
        has_read_mask=has_mask,
        body=bool(rule.body),
        readers=readers,
    )


def _repeated(field: FieldDescriptor) -> bool:
    return bool(field.is_repeated)


def find(routes: Sequence[Binding], verb: str, path: str) -> tuple[Binding, dict[str, str]] | None:
    """The binding whose rule matches ``verb path``, with its path variables."""
    for binding in routes:
        if binding.verb != verb:
            continue
        found = binding.match(path)
        if found is not None:
            return binding, found
    return None


def field_value(field: FieldDescriptor, raw: str) -> Any:
    """A scalar (or repeated scalar: comma-separated) field's value from its text; ValueError
    when the text is not of its type.

    >>> from google.protobuf import descriptor_pb2
    >>> fields = descriptor_pb2.FieldDescriptorProto.DESCRIPTOR.fields_by_name
    >>> field_value(fields["number"], "7"), field_value(fields["name"], "id")
    (7, 'id')
    """
    return reader(field)(raw)


def reader(field: FieldDescriptor) -> Callable[[str], Any]:
    """:func:`field_value` for one field: a function of the text alone."""
    if _repeated(field):
        if field.type == FieldDescriptor.TYPE_STRING:  # ids, the common case: no conversion
            return _strings
        one = _scalar_reader(field)
        return lambda raw: [one(item) for item in raw.split(",") if item]
    return _scalar_reader(field)


def _strings(raw: str) -> list[str]:
    items = raw.split(",")
    # Empty items (a trailing comma) are rare: looked for in C before any Python loop.
    return [item for item in items if item] if "" in items else items


#: The integer field types (each read from a query parameter as a Python int).
INT_TYPES = frozenset(
    {
        FieldDescriptor.TYPE_INT32,
        FieldDescriptor.TYPE_INT64,
        FieldDescriptor.TYPE_UINT32,
        FieldDescriptor.TYPE_UINT64,
        FieldDescriptor.TYPE_SINT32,
        FieldDescriptor.TYPE_SINT64,
        FieldDescriptor.TYPE_FIXED32,
        FieldDescriptor.TYPE_FIXED64,
        FieldDescriptor.TYPE_SFIXED32,
        FieldDescriptor.TYPE_SFIXED64,
    }
)


def _scalar_reader(field: FieldDescriptor) -> Callable[[str], Any]:
    """A scalar field's value from its text; the function raises ValueError when the text is
    not of the field's type (and so does this, for a type no text can be)."""
    kind = field.type
    if kind == FieldDescriptor.TYPE_STRING:
        return str
    if kind in INT_TYPES:
        return int
    if kind in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return float
    if kind == FieldDescriptor.TYPE_BOOL:
        return _boolean
    if kind == FieldDescriptor.TYPE_ENUM:
        values = field.enum_type.values_by_name
        name = field.enum_type.name

        def enum(raw: str) -> int:
            value = values.get(raw)
            if value is None:
                raise ValueError(f"'{raw}' is not a value of {name}")
            return int(value.number)

        return enum

    def unreadable(raw: str) -> Any:
        raise ValueError(f"a field of type {kind} cannot come from a query parameter")

    return unreadable


def _boolean(raw: str) -> bool:
    if raw in ("true", "1"):
        return True
    if raw in ("false", "0"):
        return False
    raise ValueError(f"'{raw}' is not a boolean")
