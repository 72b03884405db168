"""A service's gRPC API, served beside its JSON API from the same routes.

Each method of the service's proto is answered by the JSON route its ``google.api.http``
rule names, called in-process through the app (ASGI): the same internal-token check (the
call's ``authorization`` metadata), the same deadline (``grpc-timeout`` becomes the route's
``x-deadline-ms``), the same authorization rules and problems. So the two APIs cannot drift:
there is one implementation, and the proto is its contract. The JSON answer is cut to the
call's ``read_mask`` (paths of the response message; lists are walked through, so
``items.title`` keeps each item's title) and parsed into the response message; a problem
becomes the gRPC status of its HTTP status, with a ``google.rpc.Status`` carrying the
problem's detail and an ``ErrorInfo``. A caller that cancels (or whose deadline passes)
cancels the route's task, as a closed connection would.

The calls come in on :mod:`waveform.services.grpc_server` (HTTP/2 in the service's own
event loop), which also answers the standard health checking service (``grpc.health.v1``,
SERVING once started) and server reflection (``grpcurl list``), both without a token, as
``/healthz`` and ``/openapi.json`` are open on the JSON side.
"""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import Mapping
from typing import Any, NamedTuple, TypedDict
from urllib.parse import quote, urlencode

import msgspec
from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor
from google.protobuf.message import DecodeError
from google.rpc import error_details_pb2
from grpc_health.v1 import health, health_pb2
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.types import Message as AsgiMessage

from tailor.upstream.grpc.descriptors import READ_MASK, Binding, bindings, load_pool
from tailor.upstream.grpc.messages import mask_tree
from tailor.upstream.grpc.status import (
    code_for_http,
    connect_name,
    encode_status,
    http_status,
)
from waveform.protos import SERVICES, descriptor_set
from waveform.services.grpc_server import CallContext, GrpcError, GrpcServer, Method
from waveform.services.grpc_standard import health_methods, reflection_methods

log = logging.getLogger("waveform.services.grpc")

#: Metadata that is gRPC's own business, not a header of the route.
_SKIPPED = frozenset({b"user-agent", b"te", b"content-type"})


class Answer:
    """What the route answered: status, headers and body, collected from ``send``."""

    def __init__(self) -> None:
        self.status = 500
        self.body = bytearray()

    async def send(self, message: AsgiMessage) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
        elif message["type"] == "http.response.body":
            self.body += message.get("body", b"")


async def _no_body() -> AsgiMessage:
    return {"type": "http.request", "body": b"", "more_body": False}


def _body(body: bytes) -> Receive:
    async def receive() -> AsgiMessage:
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


class MethodRoute:
    """One method, answered by its JSON route in ``app``: over gRPC (:meth:`grpc`) and over
    the Connect protocol (:class:`ConnectAPI`)."""

    def __init__(self, app: ASGIApp, binding: Binding) -> None:
        self.app = app
        self.binding = binding
        # read mask -> a decoder of the route's JSON that keeps only the masked fields (None:
        # the mask names a path the response message has not); at most _MASKS_KEPT of them.
        self._masked: dict[tuple[str, ...], msgspec.json.Decoder[Any] | None] = {}

    def parse(self, raw: bytes, codec: bytes) -> Call | None:
        """The request's fields and read mask from its bytes (``proto``) or JSON (``json``);
        None when it is not one of this method's requests."""
        binding = self.binding
        if codec == b"json":
            return _json_call(binding, raw)
        message = binding.request()
        try:
            message.ParseFromString(raw)
        except DecodeError:
            return None
        values = {name: getattr(message, name) for name in (*binding.path_fields, *binding.query)}
        mask = list(message.read_mask.paths) if binding.has_read_mask else []
        if not binding.body:
            return Call(values, mask)
        # The command's body: the fields the caller set (an unset optional field is left
        # out, so the route applies its default), by their proto names, as the route's JSON.
        fields = json_format.MessageToDict(message, preserving_proto_field_name=True)
        for name in (*binding.path_fields, READ_MASK):
            fields.pop(name, None)
        return Call(values, mask, msgspec.json.encode(fields))

    async def answer(
        self, call: Call, headers: list[tuple[bytes, bytes]], left_s: float | None
    ) -> tuple[int, Any]:
        """The route's answer cut to the read mask (status 200), or its status and problem."""
        binding = self.binding
        path, query = _route_of(binding, call.values)
        if left_s is not None:
            headers.append((b"x-deadline-ms", str(max(0, int(left_s * 1000))).encode()))
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": binding.verb,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": query.encode(),
            "root_path": "",
            "headers": headers,
            "client": None,
            "server": None,
        }
        receive: Receive = _no_body
        if call.body is not None:
            headers.append((b"content-type", b"application/json"))
            receive = _body(call.body)
        answer = Answer()
        await self.app(scope, receive, answer.send)
        if not 200 <= answer.status < 300:  # a command's 201 is its success too
            return answer.status, _problem(bytes(answer.body))
        return 200, self.cut(bytes(answer.body), call.mask)

    def cut(self, body: bytes, mask: list[str]) -> Any:
        """The route's JSON answer with only the fields ``mask`` names (all of it without
        one), as the message's constructor takes it.

        A mask the service has seen is read by a decoder made for it, which skips every other
        field while parsing: a Connect answer then costs the service little more than the
        JSON route's (docs/grpc.md). Any other mask, or an answer that decoder cannot read,
        is decoded whole and pruned."""
        if not mask:
            return msgspec.json.decode(body)
        key = tuple(mask)
        decoder = self._masked.get(key, _UNSEEN)
        if decoder is _UNSEEN and len(self._masked) < _MASKS_KEPT:
            decoder = self._masked[key] = masked_decoder(self.binding.response.DESCRIPTOR, mask)
        if isinstance(decoder, msgspec.json.Decoder):
            try:
                return decoder.decode(body)
            except msgspec.ValidationError:
                pass  # not the shape the descriptor says: the general path reads it
        return prune(msgspec.json.decode(body), mask_tree(mask))

    def serialize(self, data: Any) -> bytes:
        """The route's JSON answer as the response message, serialized."""
        response = self.binding.response
        try:
            # The message's constructor takes nested dicts and lists of them (null: unset),
            # in C: a fraction of the pure-Python JSON-mapping parser's time (docs/grpc.md).
            # An answer cut to a read mask names only the message's fields, so it goes as is.
            reply = response(**data)
        except (TypeError, ValueError):
            reply = _message(response, data)
        return bytes(reply.SerializeToString())

    async def grpc(self, raw: bytes, call: CallContext) -> bytes:
        """The call's answer: the response message's bytes, or a :class:`GrpcError`."""
        request = self.parse(raw, b"proto")
        if request is None:
            detail = f"not a {self.binding.request.DESCRIPTOR.full_name}"
            raise grpc_error(400, {"title": "Bad Request", "detail": detail})
        # The metadata as the route's headers, but for gRPC's own fields and binary ones.
        headers = [
            field
            for field in call.metadata
            if field[0] not in _SKIPPED
            and not field[0].startswith(b"grpc-")
            and not field[0].endswith(b"-bin")
        ]
        status, data = await self.answer(request, headers, call.time_remaining())
        if status != 200:
            raise grpc_error(status, data)
        return self.serialize(data)


def grpc_error(status: int, problem: dict[str, Any]) -> GrpcError:
    """A route's problem as the call's status: the code of its HTTP status, its detail as
    the message, and a ``google.rpc.Status`` with its ErrorInfo as the details trailer."""
    code = code_for_http(status)
    detail = problem.get("detail", "")
    return GrpcError(code, detail, encode_status(code, detail, [_info(status, problem)]))


class ConnectAPI:
    """The Connect protocol's unary calls (``POST /<service>/<Method>``, ``application/proto``)
    in front of ``app``; every other request goes to ``app`` as it is."""

    def __init__(self, app: ASGIApp, routes: Mapping[str, MethodRoute]) -> None:
        self.app = app
        self.routes = dict(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = self.routes.get(scope["path"]) if scope["type"] == "http" else None
        if route is None or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        headers: list[tuple[bytes, bytes]] = []
        left_s = None
        content_type = b""
        for key, value in scope["headers"]:
            if key == b"connect-timeout-ms":
                left_s = int(value) / 1000 if value.isdigit() else None
            elif key == b"content-type":
                content_type = value
            elif not key.startswith(b"connect-") and key not in (b"content-length", b"host"):
                headers.append((key, value))
        codec = content_type.removeprefix(b"application/")
        if codec not in (b"proto", b"json"):
            await _connect_error(send, 415, "use application/proto or application/json", {})
            return
        body = bytearray()
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        request = route.parse(bytes(body), codec)
        if request is None:
            name = route.binding.request.DESCRIPTOR.full_name
            await _connect_error(send, 400, f"the body is not a {name}", {})
            return
        status, data = await route.answer(request, headers, left_s)
        if status != 200:
            await _connect_error(send, status, data.get("detail", ""), data)
            return
        # JSON: the route's own answer, cut to the mask (field names as the proto's, int64
        # as numbers: both what the JSON mapping's parsers accept).
        reply = msgspec.json.encode(data) if codec == b"json" else route.serialize(data)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/" + codec),
                    (b"content-length", str(len(reply)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": reply})


async def _connect_error(send: Send, status: int, detail: str, problem: dict[str, Any]) -> None:
    code = code_for_http(status)
    info = _info(status, problem)
    value = base64.b64encode(info.SerializeToString()).decode().rstrip("=")
    body = {
        "code": connect_name(code),
        "message": detail,
        "details": [{"type": info.DESCRIPTOR.full_name, "value": value}],
    }
    await send(
        {
            "type": "http.response.start",
            "status": http_status(code),
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": msgspec.json.encode(body)})


def _info(status: int, problem: dict[str, Any]) -> Any:
    """The ErrorInfo detail of a problem: its title as the reason, its HTTP status."""
    reason = str(problem.get("title") or "error").upper().replace(" ", "_")
    return error_details_pb2.ErrorInfo(
        reason=reason, domain="waveform", metadata={"http_status": str(status)}
    )


class Call(NamedTuple):
    """One call's request: its path and query fields by name, its read mask's paths, and
    for a rule with ``body: "*"`` the route's JSON body."""

    values: dict[str, Any]
    mask: list[str]
    body: bytes | None = None


def _json_call(binding: Binding, raw: bytes) -> Call | None:
    """A request in the JSON mapping (the Connect protocol's JSON codec): its fields by their
    proto or JSON names, the read mask as one comma-separated string of camelCase paths. Read
    with msgspec rather than protobuf's pure-Python JSON parser: a service answers the BFF's
    every call through here."""
    try:
        body = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return None
    if not isinstance(body, dict):
        return None
    fields = binding.request.DESCRIPTOR.fields_by_name
    json_names = binding.request.DESCRIPTOR.fields_by_camelcase_name
    values: dict[str, Any] = {}
    mask: list[str] = []
    command: dict[str, Any] = {}
    for key, value in body.items():
        field = fields.get(key) or json_names.get(key)
        if field is None:
            return None
        if field.name == READ_MASK and isinstance(value, str):
            mask = [_snake(path) for path in value.split(",") if path]
        elif field.name in binding.query or field.name in binding.path_fields:
            values[field.name] = value
        elif binding.body:
            command[field.name] = value
        else:
            return None
    return Call(values, mask, msgspec.json.encode(command) if binding.body else None)


def _snake(path: str) -> str:
    """``items.displayName`` -> ``items.display_name`` (the JSON mapping's FieldMask paths)."""
    return re.sub(r"[A-Z]", lambda m: "_" + m.group(0).lower(), path)


def _route_of(binding: Binding, values: Mapping[str, Any]) -> tuple[str, str]:
    """The JSON route's path and query string for a call's fields."""
    path = binding.template
    for name in binding.path_fields:
        path = path.replace("{" + name + "}", quote(str(values.get(name, "")), safe=""))
    params: dict[str, str] = {}
    for name, field in binding.query.items():
        value = values.get(name)
        if field.is_repeated:
            if value:
                params[name] = ",".join(str(v) for v in value)
        elif value is not None and value != field.default_value:
            params[name] = str(value).lower() if isinstance(value, bool) else str(value)
    return path, urlencode(params, safe=",")


def _message(response: Any, data: Mapping[str, Any]) -> Any:
    """The message for a JSON answer with fields the message lacks (a whole answer): the
    constructor on the fields it has, else the JSON mapping's parser (a value only it reads)."""
    try:
        return response(**_fit(response.DESCRIPTOR, data))
    except (TypeError, ValueError, AttributeError):
        return json_format.ParseDict(data, response(), ignore_unknown_fields=True)


def _fit(descriptor: Descriptor, data: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` (a JSON object) with only the fields ``descriptor`` has, by their proto names,
    and without nulls (an unset field), nested objects likewise: what the message's
    constructor takes.

    >>> from google.protobuf import descriptor_pb2
    >>> _fit(descriptor_pb2.FieldDescriptorProto.DESCRIPTOR, {"name": "a", "x": 1, "number": None})
    {'name': 'a'}
    """
    out: dict[str, Any] = {}
    fields = descriptor.fields_by_name
    for key, value in data.items():
        field = fields.get(key)
        if field is None or value is None:
            continue
        nested = field.message_type
        if nested is not None and not nested.GetOptions().map_entry:
            if field.is_repeated:
                value = [_fit(nested, item) for item in value]
            else:
                value = _fit(nested, value)
        out[key] = value
    return out


def _problem(body: bytes) -> dict[str, Any]:
    try:
        decoded = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return {}
    return decoded if isinstance(decoded, dict) else {}


#: Read masks kept per method (callers ask for a few: one per consumed struct).
_MASKS_KEPT = 64
_UNSEEN: Any = object()


def masked_decoder(descriptor: Descriptor, mask: list[str]) -> msgspec.json.Decoder[Any] | None:
    """A JSON decoder of ``descriptor``'s messages into dicts of only the fields ``mask``
    names (a TypedDict per message: other keys are skipped, a key not there is left out, as
    :func:`prune` leaves them), or None when a path names a field the message has not or walks
    into a scalar.

    >>> from google.protobuf import descriptor_pb2
    >>> decoder = masked_decoder(descriptor_pb2.DescriptorProto.DESCRIPTOR, ["field.name"])
    >>> decoder.decode(b'{"name": "A", "field": [{"name": "x", "number": 1}]}')
    {'field': [{'name': 'x'}]}
    """
    shape = _shape(descriptor, mask_tree(mask))
    return None if shape is None else msgspec.json.Decoder(shape)


def _shape(descriptor: Descriptor, tree: Mapping[str, Any]) -> Any:
    fields: dict[str, Any] = {}
    for name, sub in tree.items():
        field = descriptor.fields_by_name.get(name)
        if field is None:
            return None
        kind: Any = Any  # the whole field, as the JSON has it
        if sub:
            nested = field.message_type
            if nested is None or nested.GetOptions().map_entry:
                return None
            kind = _shape(nested, sub)
            if kind is None:
                return None
            if field.is_repeated:
                kind = list[kind]
        fields[name] = kind | None  # null: unset, for the message's constructor too
    return TypedDict(f"{descriptor.name}Masked", fields, total=False)  # type: ignore[operator]


def prune(value: Any, tree: Mapping[str, Any]) -> Any:
    """``value`` with only the fields ``tree`` names; lists are pruned item by item.

    >>> prune({"items": [{"id": "t1", "isrc": "X"}], "n": 1}, {"items": {"id": {}}})
    {'items': [{'id': 't1'}]}
    """
    if not tree:
        return value
    if isinstance(value, list):
        return [prune(item, tree) for item in value]
    if not isinstance(value, dict):
        return value
    return {name: prune(value[name], sub) for name, sub in tree.items() if name in value}


async def start_grpc(app: ASGIApp, service: str, host: str, port: int) -> GrpcServer:
    """Serve ``service``'s gRPC API (from ``app``'s routes), health and reflection."""
    full_name = SERVICES[service]
    pool = load_pool([descriptor_set()])
    methods = {
        b.method: Method(unary=MethodRoute(app, b).grpc)
        for b in bindings(pool, full_name, f"services.{service}")
    }
    checker = health.aio.HealthServicer()
    methods.update(health_methods(checker))
    methods.update(reflection_methods([full_name], pool))
    server = GrpcServer(methods, on_stop=checker.enter_graceful_shutdown)
    await server.start(host, port)
    await checker.set(full_name, health_pb2.HealthCheckResponse.SERVING)
    await checker.set("", health_pb2.HealthCheckResponse.SERVING)
    log.info("%s: gRPC on %s:%d", service, host, port)
    return server


def connect_api(app: ASGIApp, service: str) -> ConnectAPI:
    """``app`` with ``service``'s methods answered over the Connect protocol as well."""
    pool = load_pool([descriptor_set()])
    routes = bindings(pool, SERVICES[service], f"services.{service}")
    return ConnectAPI(app, {b.method: MethodRoute(app, b) for b in routes})
