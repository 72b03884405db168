"""The gRPC transport: grpcio's asyncio client, behind the same seam as the HTTP ones.

A part's call arrives as the JSON call it would make (``GET /catalog/tracks?ids=t1,t2``);
the service's http rules say which method that is (``BatchGetTracks``) and how the path and
query fill its request. The consumed struct of the part (``UpstreamRequest.into``) decides the
request's ``read_mask`` and is what the response is converted into (``UpstreamResponse.value``);
the raw bytes stay in ``body``. The call's timeout travels as ``grpc-timeout``; a cancelled
call (a lost race, the endpoint's deadline, a client gone) is cancelled on the wire
(``RST_STREAM``), so the service sees it. grpcio's own retries are off: retries, the breaker
and the bulkhead are the resilient transport's, exactly as for HTTP.

>>> transport = GrpcTransport({})  # built from config by build_grpc_transport
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_plus, urlsplit

import grpc
from google.protobuf.message import DecodeError, Message

from tailor.errors import ConfigError, UpstreamDecodeError, UpstreamTimeout, UpstreamUnavailable
from tailor.upstream.grpc.descriptors import Binding, bindings, find, load_pool, set_field
from tailor.upstream.grpc.messages import ContractMismatch, Converter, converter, read_mask
from tailor.upstream.grpc.status import (
    DETAILS_TRAILER,
    GrpcStatusError,
    code_name,
    decode_details,
)
from tailor.upstream.transport import UpstreamRequest, UpstreamResponse

#: Headers of an inward HTTP call that mean nothing as gRPC metadata: gRPC has its own
#: content type, and the deadline travels as grpc-timeout.
_NOT_METADATA = frozenset({"accept", "content-type", "x-deadline-ms"})
_CHANNEL_OPTIONS = (
    ("grpc.enable_retries", 0),  # tailor's resilient transport retries, within its budget
    ("grpc.keepalive_time_ms", 30_000),
)
_UNAVAILABLE = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED})


@dataclass
class GrpcUpstream:
    """One upstream served over gRPC: where (``target``), the configured base URL its calls'
    URLs start with, and the bound methods of its service."""

    name: str
    base: str
    target: str
    routes: Sequence[Binding]
    # (method, consumed type) -> the request's read mask and the response's converter
    plans: dict[tuple[str, Any], tuple[tuple[str, ...], Converter | None]] = field(
        default_factory=dict
    )

    def request(self, request: UpstreamRequest) -> tuple[Binding, Message, Converter | None]:
        """The method, request message and converter for an HTTP-shaped call."""
        path, _, query = request.url[len(self.base) :].partition("?")
        found = find(self.routes, request.method, path)
        if found is None:
            raise GrpcStatusError(
                self.name, 12, f"no http rule of the service matches {request.method} {path}"
            )
        binding, variables = found
        message = binding.request()
        fields = message.DESCRIPTOR.fields_by_name
        try:
            for name, value in variables.items():
                set_field(message, fields[name], unquote_plus(value))
            if query:
                for pair in query.split("&"):
                    key, _, value = pair.partition("=")
                    target = binding.query.get(key)
                    if target is None:
                        raise ValueError(f"{binding.name} has no field '{key}'")
                    set_field(message, target, unquote_plus(value))
        except ValueError as exc:
            # The BFF built a call the contract cannot express: a bug, reported as one.
            raise UpstreamDecodeError(self.name, f"cannot build the request: {exc}") from exc
        mask, convert = self._plan(binding, request.into)
        if mask:
            message.read_mask.paths.extend(mask)
        return binding, message, convert

    def _plan(self, binding: Binding, into: Any) -> tuple[tuple[str, ...], Converter | None]:
        key = (binding.method, into)
        plan = self.plans.get(key)
        if plan is None:
            if into is None:
                plan = ((), None)
            else:
                descriptor = binding.response.DESCRIPTOR
                try:
                    convert = converter(descriptor, into)
                except ContractMismatch as exc:
                    raise UpstreamDecodeError(self.name, str(exc)) from exc
                mask = tuple(read_mask(descriptor, into)) if binding.has_read_mask else ()
                plan = (mask, convert)
            self.plans[key] = plan
        return plan


class GrpcTransport:
    """Unary gRPC calls to the upstreams in ``upstreams`` (by name), one channel each."""

    def __init__(self, upstreams: Mapping[str, GrpcUpstream]) -> None:
        self.upstreams = dict(upstreams)
        self._channels: dict[str, grpc.aio.Channel] = {}
        self._calls: dict[tuple[str, str], grpc.aio.UnaryUnaryMultiCallable[bytes, bytes]] = {}

    async def send(self, request: UpstreamRequest) -> UpstreamResponse:
        upstream = self.upstreams[request.upstream]
        binding, message, convert = upstream.request(request)
        call = self._calls.get((upstream.name, binding.method))
        if call is None:
            call = self._callable(upstream, binding.method)
        metadata = [(k, v) for k, v in request.headers if k not in _NOT_METADATA]
        try:
            raw = await call(
                message.SerializeToString(), timeout=request.timeout_s, metadata=metadata
            )
        except grpc.aio.AioRpcError as exc:
            return _failed(upstream.name, exc)
        try:
            decoded = binding.response.FromString(raw)
            value = convert(decoded) if convert is not None else None
        except (DecodeError, ContractMismatch) as exc:
            name = binding.response.DESCRIPTOR.full_name
            raise UpstreamDecodeError(upstream.name, f"not a {name}: {exc}") from exc
        return UpstreamResponse(200, {}, raw, value=value)

    def _callable(
        self, upstream: GrpcUpstream, method: str
    ) -> grpc.aio.UnaryUnaryMultiCallable[bytes, bytes]:
        channel = self._channels.get(upstream.name)
        if channel is None:  # made on first use: a channel belongs to the running loop
            channel = grpc.aio.insecure_channel(upstream.target, options=_CHANNEL_OPTIONS)
            self._channels[upstream.name] = channel
        # No serializers: bytes in and out, parsed here, so a malformed answer is ours to
        # report as one (grpcio would report it as an INTERNAL status).
        call: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(method)
        self._calls[(upstream.name, method)] = call
        return call

    async def aclose(self) -> None:
        channels, self._channels = self._channels, {}
        self._calls.clear()
        for channel in channels.values():
            await channel.close()


def _failed(upstream: str, exc: grpc.aio.AioRpcError) -> UpstreamResponse:
    code = exc.code()
    text = exc.details() or ""
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        raise UpstreamTimeout(upstream, f"deadline exceeded: {text}") from exc
    if code in _UNAVAILABLE:
        raise UpstreamUnavailable(upstream, f"{code.name}: {text}") from exc
    trailer = next((v for k, v in exc.trailing_metadata() or () if k == DETAILS_TRAILER), None)
    message, details = decode_details(trailer if isinstance(trailer, bytes) else None)
    error = GrpcStatusError(upstream, code.value[0], message or text, details)
    return UpstreamResponse(error.status, {"grpc-status": code_name(error.code)}, b"", error=error)


def build_grpc_transport(
    upstreams: Mapping[str, str], services: Mapping[str, str], descriptor_sets: Sequence[str]
) -> GrpcTransport:
    """The transport for every ``grpc://`` upstream of the config; ConfigError naming the
    key (or the method whose http rule cannot be mapped) when one cannot be served."""
    pool = load_pool(descriptor_sets)
    bound: dict[str, GrpcUpstream] = {}
    for name, url in upstreams.items():
        parts = urlsplit(url)
        if parts.scheme != "grpc":
            continue
        key = f"grpc.services.{name}"
        service = services.get(name)
        if service is None:
            raise ConfigError(key, f"upstream '{name}' is grpc:// but names no service")
        routes = bindings(pool, service, key)
        if not routes:
            raise ConfigError(key, f"{service} has no method with a google.api.http rule")
        target = f"{parts.hostname}:{parts.port or 443}"
        bound[name] = GrpcUpstream(name, url.rstrip("/"), target, routes)
    return GrpcTransport(bound)
