"""The gRPC transport, behind the same seam as the HTTP ones, on one of two wires:

- ``grpc://host:port``: gRPC over HTTP/2 with tailor's own client (:mod:`~.h2`), h2c;
  ``grpcs://host:port`` the same over TLS (:mod:`~.tls`);
- ``connect://host:port``: the Connect protocol's unary calls (``POST /pkg.Service/Method``
  with ``Content-Type: application/proto``, ``connect-timeout-ms``, errors as JSON with the
  same codes and ``google.rpc`` details) over tailor's own HTTP/1.1 transport: the same
  protobuf messages as on the gRPC wire for a fraction of a grpcio call's CPU (docs/grpc.md
  has the figures).

A part's call arrives as the JSON call it would make (``GET /catalog/tracks?ids=t1,t2``);
the service's http rules say which method that is (``BatchGetTracks``) and how the path and
query fill its request. The consumed struct of the part (``UpstreamRequest.into``) decides the
request's ``read_mask`` and is what the response is converted into (``UpstreamResponse.value``);
the raw bytes stay in ``body``. Both wires build the request message and convert the answer
with the same functions (:func:`request_bytes`, :func:`decoded`); only the framing differs.
The call's timeout travels as ``grpc-timeout`` (``connect-timeout-ms``); a cancelled call (a
lost race, the endpoint's deadline, a client gone) is cancelled on the wire (``RST_STREAM``,
or the HTTP/1.1 connection aborted), so the service sees it. grpcio's own retries are off:
retries, the breaker and the bulkhead are the resilient transport's, exactly as for HTTP.

>>> transport = GrpcTransport({})  # built from config by build_grpc_transport
"""

from __future__ import annotations

import base64
import binascii
import ssl
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, unquote_plus, urlsplit

import msgspec
from google.protobuf import json_format
from google.protobuf.message import DecodeError

from tailor.config import GrpcSettings
from tailor.errors import ConfigError, UpstreamDecodeError, UpstreamTimeout, UpstreamUnavailable
from tailor.upstream.grpc.descriptors import Binding, bindings, find, load_pool
from tailor.upstream.grpc.h2 import Answer, Channel
from tailor.upstream.grpc.messages import (
    ContractMismatch,
    Converter,
    converter,
    frame,
    grpc_timeout,
    read_mask,
)
from tailor.upstream.grpc.status import (
    CANCELLED,
    CONNECT_CODES,
    DEADLINE_EXCEEDED,
    DETAILS_TRAILER,
    UNAVAILABLE,
    UNDEFINED,
    ConnectError,
    GrpcStatusError,
    code_name,
    decode_any,
    decode_details,
    http_code,
)
from tailor.upstream.grpc.tls import client_context
from tailor.upstream.transport import (
    Transport,
    UpstreamRequest,
    UpstreamResponse,
    resendable,
)

#: Headers of an inward HTTP call that mean nothing as gRPC metadata: gRPC has its own
#: content type, and the deadline travels as grpc-timeout.
_NOT_METADATA = frozenset({"accept", "content-type", "x-deadline-ms"})


@dataclass
class GrpcUpstream:
    """One upstream served over gRPC: where (``target``), the configured base URL its calls'
    URLs start with, the bound methods of its service, and whether it is reached over TLS
    (``grpcs://``)."""

    name: str
    base: str
    target: str
    routes: Sequence[Binding]
    wire: str = "grpc"  # or "connect"
    tls: bool = False
    # (method, consumed type) -> how such calls are made
    plans: dict[tuple[str, Any], CallPlan] = field(default_factory=dict)

    def request(self, request: UpstreamRequest) -> tuple[Binding, dict[str, Any], CallPlan]:
        """The method, the request's field values and the call's plan for an HTTP-shaped
        call."""
        path, _, query = request.url[len(self.base) :].partition("?")
        found = find(self.routes, request.method, path)
        if found is None:
            raise GrpcStatusError(
                self.name, 12, f"no http rule of the service matches {request.method} {path}"
            )
        binding, variables = found
        readers = binding.readers
        values: dict[str, Any] = {}
        try:
            for name, value in variables.items():
                values[name] = readers[name](_unquote(value))
            if query:
                for pair in query.split("&"):
                    key, _, value = pair.partition("=")
                    if key not in binding.query:
                        raise ValueError(f"{binding.name} has no field '{key}'")
                    values[key] = readers[key](_unquote(value))
            if binding.body:
                values.update(_body_fields(binding, request.body))
        except ValueError as exc:
            # The BFF built a call the contract cannot express: a bug, reported as one.
            raise UpstreamDecodeError(self.name, f"cannot build the request: {exc}") from exc
        return binding, values, self._plan(binding, request.into)

    def _plan(self, binding: Binding, into: Any) -> CallPlan:
        key = (binding.method, into)
        plan = self.plans.get(key)
        if plan is None:
            if into is None:
                plan = CallPlan((), b"", None)
            else:
                descriptor = binding.response.DESCRIPTOR
                try:
                    convert = converter(descriptor, into)
                except ContractMismatch as exc:
                    raise UpstreamDecodeError(self.name, str(exc)) from exc
                mask = tuple(read_mask(descriptor, into)) if binding.has_read_mask else ()
                # The mask is the same on every call of the plan: serialized once, appended
                # to each request's bytes (a message's fields may come in any order).
                tail = (
                    binding.request(read_mask={"paths": mask}).SerializeToString() if mask else b""
                )
                plan = CallPlan(mask, tail, convert)
            self.plans[key] = plan
        return plan


@dataclass(frozen=True, slots=True)
class CallPlan:
    """How calls of one method for one consumed type are made: the read mask's paths (and a
    request message holding only them, serialized), and the converter of the answer into the
    consumed type (None: the caller wants no value)."""

    mask: tuple[str, ...]
    mask_bytes: bytes
    convert: Converter | None


def _body_fields(binding: Binding, body: bytes | None) -> dict[str, Any]:
    """The request's fields from a command's JSON body (the rule's ``body: "*"``), by their
    proto names; ValueError for a body that is not an object of the request's fields."""
    if not body:
        return {}
    try:
        decoded = msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        raise ValueError("the body is not JSON") from exc
    if not isinstance(decoded, dict):
        raise ValueError("the body is not a JSON object")
    descriptor = binding.request.DESCRIPTOR
    out = {}
    for key, value in decoded.items():
        field = descriptor.fields_by_name.get(key) or descriptor.fields_by_camelcase_name.get(key)
        if field is None or field.name in binding.path_fields:
            raise ValueError(f"{binding.name} has no body field '{key}'")
        out[field.name] = value
    return out


def _unquote(text: str) -> str:
    # Ids and numbers, nearly every value, were never encoded (tailor.upstream.urls).
    return unquote_plus(text) if "%" in text or "+" in text else text


class GrpcTransport:
    """Unary gRPC calls to the upstreams in ``upstreams`` (by name): one HTTP/2 channel each on
    the gRPC wire, ``http`` (an HTTP/1.1 transport) on the Connect wire. ``settings`` gives
    the channels' keepalive and, unless ``ssl_context`` is given, the TLS of ``grpcs://``
    upstreams (as ``ssl_context`` is injected into the HTTP/1.1 transport for ``https://``)."""

    def __init__(
        self,
        upstreams: Mapping[str, GrpcUpstream],
        http: Transport | None = None,
        *,
        settings: GrpcSettings | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.upstreams = dict(upstreams)
        self.http = http
        self.settings = settings or GrpcSettings()
        self._ssl_context = ssl_context
        self._channels: dict[str, Channel] = {}
        # (upstream, method) -> the request headers every call of it starts with
        self._heads: dict[tuple[str, str], list[tuple[bytes, bytes]]] = {}

    def send(self, request: UpstreamRequest) -> Coroutine[Any, Any, UpstreamResponse]:
        upstream = self.upstreams[request.upstream]
        # The wire's own coroutine, not one more around it (a frame less per call).
        if upstream.wire == "connect":
            return self._connect(upstream, request)
        return self._grpc(upstream, request)

    async def _grpc(self, upstream: GrpcUpstream, request: UpstreamRequest) -> UpstreamResponse:
        binding, values, plan = upstream.request(request)
        message = request_bytes(upstream.name, binding, values, plan)
        channel = self._channels.get(upstream.name)
        if channel is None:
            channel = self._channels[upstream.name] = self._channel(upstream)
        head = self._heads.get((upstream.name, binding.method))
        if head is None:
            head = self._heads[(upstream.name, binding.method)] = _head(channel, binding.method)
        headers = [*head, (b"grpc-timeout", grpc_timeout(request.timeout_s))]
        headers += filter(None, map(_metadata, request.headers))  # in C, as the server's
        answer = await channel.call(headers, frame(message), request.timeout_s)
        return _grpc_answer(upstream.name, binding, plan, answer)

    async def _connect(self, upstream: GrpcUpstream, request: UpstreamRequest) -> UpstreamResponse:
        """One unary call of the Connect protocol with its protobuf codec: the serialized
        request as the POST's body, the answer's body the serialized response message (a
        Connect error, JSON, on any other status than 200)."""
        assert self.http is not None, "the Connect wire needs an HTTP transport"
        binding, values, plan = upstream.request(request)
        headers = [
            _PROTO,
            _CONNECT_VERSION,
            ("connect-timeout-ms", str(max(1, int(request.timeout_s * 1000)))),
        ]
        headers += [(k, v) for k, v in request.headers if k not in _NOT_METADATA]
        call = UpstreamRequest(
            upstream.name,
            "POST",
            upstream.target + binding.method,
            headers,
            request.timeout_s,
            request_bytes(upstream.name, binding, values, plan),
            # A read is a POST on this wire: the JSON call's idempotency says whether the
            # HTTP transport may send it again when a reused connection turns out closed.
            idempotent=resendable(request),
        )
        answer = await self.http.send(call)
        if answer.status != 200:
            return _connect_failed(upstream.name, answer)
        kind = answer.headers.get("content-type", "")
        if kind != "application/proto":
            raise UpstreamDecodeError(
                upstream.name, f"a Connect answer of type '{kind}', not application/proto"
            )
        return decoded(upstream.name, binding, plan, answer.body)

    def _channel(self, upstream: GrpcUpstream) -> Channel:
        host, _, port = upstream.target.rpartition(":")
        context = None
        if upstream.tls:
            context = self._ssl_context
            if context is None:
                context = self._ssl_context = client_context(self.settings.tls)
        settings = self.settings
        return Channel(
            upstream.name,
            host,
            int(port),
            ssl_context=context,
            keepalive_s=settings.keepalive_interval_s,
            keepalive_timeout_s=settings.keepalive_timeout_s,
        )

    async def aclose(self) -> None:
        channels, self._channels = self._channels, {}
        for channel in channels.values():
            await channel.aclose()


_PROTO = ("content-type", "application/proto")
_CONNECT_VERSION = ("connect-protocol-version", "1")


def request_bytes(upstream: str, binding: Binding, values: dict[str, Any], plan: CallPlan) -> bytes:
    """The serialized request message of a call on either wire: its path and query fields (a
    command's body fields through the JSON mapping), and the read mask of the consumed
    struct."""
    try:
        message = (
            json_format.ParseDict(values, binding.request())
            if binding.body
            else binding.request(**values)
        )
    except json_format.ParseError as exc:
        raise UpstreamDecodeError(upstream, f"cannot build the request: {exc}") from exc
    return bytes(message.SerializeToString()) + plan.mask_bytes


def decoded(upstream: str, binding: Binding, plan: CallPlan, raw: bytes) -> UpstreamResponse:
    """A serialized response message, on either wire, converted into the call's consumed
    type; a truncated message, or one that does not meet the consumed struct, is an
    :class:`UpstreamDecodeError`."""
    convert = plan.convert
    try:
        message = binding.response.FromString(raw)
        value = convert(message) if convert is not None else None
    except (DecodeError, ContractMismatch) as exc:
        name = binding.response.DESCRIPTOR.full_name
        raise UpstreamDecodeError(upstream, f"not a {name}: {exc}") from exc
    return UpstreamResponse(200, {}, raw, value=value)


def _connect_failed(upstream: str, answer: UpstreamResponse) -> UpstreamResponse:
    """A Connect error (``{"code": "not_found", "message": ..., "details": [...]}``) as the
    gRPC status it names (a code name Connect does not define is an undefined code, as an
    undefined gRPC code is: 502); a body that is not one is the HTTP status's code."""
    try:
        error = msgspec.json.decode(answer.body, type=ConnectError)
    except msgspec.DecodeError:
        error, code = ConnectError(""), http_code(answer.status)
    else:
        code = CONNECT_CODES.get(error.code, UNDEFINED)
        if code == UNDEFINED:
            error.message = f"undefined Connect code '{error.code}': {error.message}"
    details = [d for raw in error.details if (d := decode_any(raw.type, raw.value))]
    failure = _status_error(upstream, code, error.message, details)
    return UpstreamResponse(failure.status, answer.headers, answer.body, error=failure)


def _head(channel: Channel, method: str) -> list[tuple[bytes, bytes]]:
    return [
        (b":method", b"POST"),
        (b":scheme", channel.scheme),
        (b":path", method.encode()),
        (b":authority", channel.authority),
        (b"content-type", b"application/grpc"),
        (b"te", b"trailers"),
    ]


class _Metadata(dict[tuple[str, str], tuple[bytes, bytes]]):
    """Request headers as gRPC metadata, by the BFF's (name, value): the field encoded, or
    () for a header that is not metadata. Most repeat on every call (the internal token, the
    viewer's country); the table is cleared when full."""

    def __missing__(self, field: tuple[str, str]) -> tuple[bytes, bytes]:
        name, value = field
        encoded = (
            _NO_FIELD
            if name in _NOT_METADATA
            else (name.lower().encode("latin-1"), value.encode("latin-1"))
        )
        if len(self) >= 4096:
            self.clear()
        self[field] = encoded
        return encoded


_NO_FIELD: tuple[bytes, bytes] = ()  # type: ignore[assignment]
_metadata = _Metadata().__getitem__


def _grpc_answer(
    upstream: str, binding: Binding, plan: CallPlan, answer: Answer
) -> UpstreamResponse:
    """A gRPC answer read: its status from the trailers (the head, for a trailers-only
    answer), then the one length-prefixed message of an OK call decoded."""
    fields = dict(answer.trailers or answer.head)
    raw_code = fields.get(b"grpc-status")
    if raw_code is None:
        status = dict(answer.head).get(b":status", b"")
        if status != b"200":  # not a gRPC server's answer: the code from the HTTP status
            code = http_code(int(status)) if status.isdigit() else UNDEFINED
            failure = _status_error(upstream, code, f"HTTP status {status.decode()}", [])
            return UpstreamResponse(
                failure.status, _GRPC_STATUS[failure.code_name], b"", error=failure
            )
        raise UpstreamDecodeError(upstream, "an answer without grpc-status")
    if raw_code != b"0":
        code = int(raw_code) if raw_code.isdigit() else UNDEFINED
        message = unquote(fields.get(b"grpc-message", b"").decode("latin-1"))
        text, details = decode_details(_unbase64(fields.get(DETAILS_TRAILER_BYTES)))
        failure = _status_error(upstream, code, text or message, details)
        return UpstreamResponse(failure.status, _GRPC_STATUS[failure.code_name], b"", error=failure)
    body = answer.body
    size = len(body) - 5
    if size < 0 or body[0] != 0 or int.from_bytes(body[1:5], "big") != size:
        kind = "compressed" if body[:1] == b"\x01" else "truncated or missing"
        raise UpstreamDecodeError(upstream, f"a {kind} length-prefixed message")
    return decoded(upstream, binding, plan, body[5:])


DETAILS_TRAILER_BYTES = DETAILS_TRAILER.encode()


def _unbase64(value: bytes | None) -> bytes | None:
    if not value:
        return None
    try:
        return base64.b64decode(value + b"==")
    except binascii.Error:
        return None


def _status_error(
    upstream: str, code: int, message: str, details: list[dict[str, Any]]
) -> GrpcStatusError:
    """A call's non-OK status (either wire) in tailor's terms: DEADLINE_EXCEEDED raises
    UpstreamTimeout, UNAVAILABLE and CANCELLED UpstreamUnavailable (as a timeout or a refused
    connection over HTTP); any other code is a GrpcStatusError, its HTTP status
    :func:`~tailor.upstream.grpc.status.exact_status`'s."""
    if code == DEADLINE_EXCEEDED:
        raise UpstreamTimeout(upstream, f"deadline exceeded: {message}")
    if code in (UNAVAILABLE, CANCELLED):
        raise UpstreamUnavailable(upstream, f"{code_name(code)}: {message}")
    return GrpcStatusError(upstream, code, message, details)


class _ByCodeName(dict[str, Mapping[str, str]]):
    def __missing__(self, name: str) -> Mapping[str, str]:
        headers = self[name] = {"grpc-status": name}
        return headers


#: The headers of a failed gRPC call's response, by its code's name (made once each).
_GRPC_STATUS = _ByCodeName()


#: The URL schemes of upstreams this transport serves, and the wire each names.
WIRES = {"grpc": "grpc", "grpcs": "grpc", "connect": "connect"}


def build_grpc_transport(
    upstreams: Mapping[str, str],
    services: Mapping[str, str],
    descriptor_sets: Sequence[str],
    http: Transport | None = None,
    *,
    settings: GrpcSettings | None = None,
) -> GrpcTransport:
    """The transport for every ``grpc://``, ``grpcs://`` and ``connect://`` upstream of the
    config (the latter over ``http``), its channels as ``settings`` (``grpc``) say; ConfigError
    naming the key (or the method whose http rule cannot be mapped) when one cannot be
    served, or a TLS file cannot be loaded."""
    pool = load_pool(descriptor_sets)
    bound: dict[str, GrpcUpstream] = {}
    for name, url in upstreams.items():
        parts = urlsplit(url)
        if parts.scheme not in WIRES:
            continue
        key = f"grpc.services.{name}"
        service = services.get(name)
        if service is None:
            raise ConfigError(key, f"upstream '{name}' is grpc:// but names no service")
        routes = bindings(pool, service, key)
        if not routes:
            raise ConfigError(key, f"{service} has no method with a google.api.http rule")
        if parts.scheme == "connect":
            target = f"http://{parts.hostname}:{parts.port or 80}"
        else:
            target = f"{parts.hostname}:{parts.port or 443}"
        wire, tls = WIRES[parts.scheme], parts.scheme == "grpcs"
        bound[name] = GrpcUpstream(name, url.rstrip("/"), target, routes, wire, tls)
    settings = settings or GrpcSettings()
    # Made now, not at the first call: a CA or key OpenSSL cannot load stops startup.
    context = client_context(settings.tls) if any(u.tls for u in bound.values()) else None
    return GrpcTransport(bound, http, settings=settings, ssl_context=context)
