"""Public JSON routes built from a gRPC service's descriptors (transcoding).

``transcode(bff, "catalog", "waveform.catalog.v1.CatalogService", descriptor_sets,
prefix="/v1")`` adds, at startup, one route per method of the service from its
``google.api.http`` rule (``GET /catalog/tracks/{track_id}`` becomes ``GET
/v1/catalog/tracks/{track_id}``), to the BFF's one route table like any hand-written route:
its path and query parameters are declared from the request message's fields (so a malformed
one is a 400 naming it, and the route table says what it takes), and its plan has one part
whose consumed struct is made from the response message, cut to the ``fields`` the BFF chose
to publish (a FieldMask over the response: ``items.id``). That struct is the route's contract:
the read mask sent to the service, what is decoded, what is answered.

On the way out, an int64 beyond what a JSON number holds exactly (2^53) is a string, as the
protobuf JSON mapping has it; every other number stays a number. A query parameter the
request message has no field for is a 400 naming it. The service's NOT_FOUND and
INVALID_ARGUMENT are the client's 404 and 400 (with tailor's own detail, never the service's
text); any other failure is the usual 502/504 problem. Only GET rules are transcoded: a
command (a POST, DELETE, ... rule) is published by a route of the BFF's own. A rule that
cannot be mapped (``**``, a path variable that is not a scalar field, a query field of a
type no parameter kind reads) stops startup naming the method.

It works over any wire the upstream is configured with: ``grpc://``, ``connect://``, or the
service's own JSON (the rules are its JSON routes).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
from google.protobuf.descriptor import Descriptor, FieldDescriptor

from tailor.aggregate.plan import Inputs, Part, Plan
from tailor.app import BFF
from tailor.errors import BadRequest, ConfigError, NotFound, UpstreamStatusError
from tailor.govern.labels import DataClass
from tailor.http import JSON_CONTENT_TYPE, Request, Response
from tailor.params import Bool, Int, Param, Token
from tailor.upstream.grpc.descriptors import INT_TYPES, bindings, load_pool
from tailor.upstream.grpc.messages import mask_tree

#: Integers a JSON number holds exactly; beyond, the JSON mapping's string.
SAFE_INTEGER = 2**53 - 1
_LIST = re.compile(r"[A-Za-z0-9_=.:,-]+")  # a comma-separated list of ids
_encode = msgspec.json.Encoder().encode
_PYTHON: dict[int, type[Any]] = {
    FieldDescriptor.TYPE_STRING: str,
    FieldDescriptor.TYPE_BOOL: bool,
    FieldDescriptor.TYPE_DOUBLE: float,
    FieldDescriptor.TYPE_FLOAT: float,
    **dict.fromkeys(INT_TYPES, int),
}


@dataclass(frozen=True)
class TranscodedRoute:
    """One route made from a method: its template, the method's name, the struct it answers
    (its contract) and its query parameters."""

    template: str
    method: str
    into: type[msgspec.Struct]
    query: dict[str, Param[Any]]
    plan: Plan


def transcoded_routes(
    upstream: str,
    service: str,
    descriptor_sets: Sequence[str],
    *,
    prefix: str = "",
    fields: Mapping[str, Sequence[str]] | None = None,
    timeout_s: float = 1.0,
    data_class: DataClass | None = None,
) -> list[TranscodedRoute]:
    """The routes :func:`transcode` adds, without adding them (for a BFF's OpenAPI, say)."""
    pool = load_pool(descriptor_sets)
    out = []
    for binding in bindings(pool, service, f"grpc.services.{upstream}"):
        where = f"grpc method {binding.method.strip('/').replace('/', '.')}"
        if binding.verb != "GET":
            # Reads only: a command is published by a route of the BFF's own, which says
            # what a client may send and who may send it (secure by default).
            continue
        published = (fields or {}).get(binding.name)
        tree = None if published is None else mask_tree(published)
        into = response_struct(binding.response.DESCRIPTOR, tree, where, data_class)
        query = {name: _param(field, where) for name, field in binding.query.items()}
        part = Part(
            binding.name,
            upstream,
            binding.template,
            into=into,
            params=_params_from(tuple(query)),
            timeout_s=timeout_s,
        )
        plan = Plan((part,), deadline_s=timeout_s)
        out.append(TranscodedRoute(prefix + binding.template, binding.name, into, query, plan))
    return out


def transcode(
    bff: BFF,
    upstream: str,
    service: str,
    descriptor_sets: Sequence[str],
    *,
    prefix: str = "",
    fields: Mapping[str, Sequence[str]] | None = None,
    timeout_s: float = 1.0,
    data_class: DataClass | None = None,
) -> list[TranscodedRoute]:
    """Add a route for each method of ``service`` (called at ``upstream``) that has an http
    rule; ``fields`` maps a method's name to the response fields it publishes (all when
    absent); ``data_class`` is the class of every published field (the governance gate needs
    one: a message's fields carry none)."""
    routes = transcoded_routes(
        upstream,
        service,
        descriptor_sets,
        prefix=prefix,
        fields=fields,
        timeout_s=timeout_s,
        data_class=data_class,
    )
    for route in routes:
        handler = _handler(route.method, route.query)
        bff.get(route.template, plan=route.plan, query=route.query, response=route.into)(handler)
    return routes


def _handler(part: str, query: Mapping[str, Param[Any]]) -> Any:
    async def handle(request: Request) -> Response:
        for name in request.query:
            if name not in query:
                raise BadRequest(f"unknown query parameter '{name}'", parameter=name)
        assert request.engine is not None and request.route is not None
        assert request.route.plan is not None
        variables = dict(request.path_params)
        for name, value in request.parsed_query.items():
            if value is not None:
                variables[name] = str(value).lower() if isinstance(value, bool) else str(value)
        try:
            outcome = await request.engine.run(
                request.route.plan,
                variables,
                request_id=request.request_id,
                principal=request.principal,
                allowance=request.allowance,
            )
        except UpstreamStatusError as exc:
            if exc.status == 404:
                raise NotFound("no such resource, or not visible to the caller") from exc
            if exc.status == 400:
                raise BadRequest("the request's parameters were refused") from exc
            raise
        body = json_safe(msgspec.to_builtins(outcome[part]))
        return Response(200, _encode(body), [JSON_CONTENT_TYPE])

    return handle


def _params_from(names: tuple[str, ...]) -> Any:
    def params(inputs: Inputs) -> dict[str, str | int]:
        return {name: inputs.vars[name] for name in names if name in inputs.vars}

    return params


def _param(field: FieldDescriptor, where: str) -> Param[Any]:
    kind = field.type
    if field.is_repeated and kind == FieldDescriptor.TYPE_STRING:
        return Token(max_length=4096, pattern=_LIST)
    if field.is_repeated:
        raise ConfigError(where, f"repeated field '{field.name}' cannot be a query parameter")
    if kind == FieldDescriptor.TYPE_STRING:
        return Token()
    if kind == FieldDescriptor.TYPE_BOOL:
        return Bool()
    if kind in INT_TYPES:
        return Int(0, 0, 2**31 - 1)
    raise ConfigError(where, f"field '{field.name}' is of a type no query parameter reads")


def response_struct(
    descriptor: Descriptor,
    tree: Mapping[str, Any] | None,
    where: str,
    data_class: DataClass | None = None,
) -> type[msgspec.Struct]:
    """A msgspec struct with the fields of ``descriptor`` that ``tree`` names (all when None),
    nested messages as nested structs: what the route consumes and answers.

    >>> from google.protobuf import descriptor_pb2
    >>> Card = response_struct(descriptor_pb2.FileDescriptorProto.DESCRIPTOR, {"name": {}}, "x")
    >>> msgspec.json.decode(b'{"name": "a.proto", "package": "p"}', type=Card)
    FileDescriptorProto(name='a.proto')
    """
    out: list[tuple[str, Any, Any]] = []
    for field in descriptor.fields:
        if tree and field.name not in tree:
            continue
        sub = tree.get(field.name) if tree else None
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            nested = response_struct(field.message_type, sub or None, where, data_class)
            kind: Any = list[nested] if field.is_repeated else nested | None  # type: ignore[valid-type]
            default: Any = msgspec.field(default_factory=list) if field.is_repeated else None
        elif field.type in _PYTHON:
            base = _PYTHON[field.type]
            if field.is_repeated:
                kind, default = list[base], msgspec.field(default_factory=list)  # type: ignore[valid-type]
            elif field.has_presence:
                kind, default = base | None, None
            else:
                kind, default = base, base()
        else:
            raise ConfigError(where, f"field '{field.name}' has a type the JSON route cannot carry")
        out.append((field.name, kind, default))
    if tree:
        missing = sorted(set(tree) - {name for name, _, _ in out})
        if missing:
            raise ConfigError(where, f"{descriptor.full_name} has no field '{missing[0]}'")
    # One struct per message and cut: two methods answering the same message share it, so a
    # document (and the governance gate) sees one Track, not two of the same name.
    key = (descriptor.full_name, repr(tree), data_class)
    if key not in _STRUCTS:
        namespace = {} if data_class is None else {"__data_class__": data_class}
        _STRUCTS[key] = msgspec.defstruct(descriptor.name, out, kw_only=True, namespace=namespace)
    return _STRUCTS[key]


_STRUCTS: dict[tuple[str, str, DataClass | None], type[msgspec.Struct]] = {}


def json_safe(value: Any) -> Any:
    """``value`` with every integer a JSON number cannot hold exactly as a string.

    >>> json_safe({"plays": 2**60, "likes": [3]})
    {'plays': '1152921504606846976', 'likes': [3]}
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if -SAFE_INTEGER <= value <= SAFE_INTEGER else str(value)
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_safe(v) for v in value]
    return value


__all__ = [
    "SAFE_INTEGER",
    "TranscodedRoute",
    "json_safe",
    "response_struct",
    "transcode",
    "transcoded_routes",
]
