"""A real gRPC server on loopback answering the test service (library.proto), each method
scripted by the test."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf.message import Message

from tailor.upstream.grpc.descriptors import Binding
from tailor.upstream.grpc.transport import GrpcUpstream

SERVICE = "library.v1.LibraryService"

#: What a scripted method does with a request: return a message (or raw bytes), or raise.
Script = Callable[[Message, grpc.aio.ServicerContext[bytes, bytes]], Awaitable[Message | bytes]]


@dataclass
class ScriptedGrpc:
    """A gRPC server on loopback: each method runs ``scripts[name]``; what it was sent is
    kept in ``received`` (request, metadata, time remaining), cancellations in
    ``cancelled``."""

    routes: list[Binding]
    scripts: dict[str, Script] = field(default_factory=dict)
    received: list[tuple[str, Message, dict[str, str], float | None]] = field(default_factory=list)
    cancelled: asyncio.Event = field(default_factory=asyncio.Event)
    port: int = 0
    server: Any = None
    options: list[tuple[str, Any]] = field(default_factory=list)  # grpcio's server options
    credentials: grpc.ServerCredentials | None = None  # TLS (grpcs://) when given

    async def start(self) -> None:
        handlers = {}
        for binding in self.routes:
            handlers[binding.name] = grpc.unary_unary_rpc_method_handler(self._handler(binding))
        self.server = grpc.aio.server(options=self.options)
        generic = grpc.method_handlers_generic_handler(SERVICE, handlers)
        self.server.add_generic_rpc_handlers((generic,))
        if self.credentials is None:
            self.port = self.server.add_insecure_port("127.0.0.1:0")
        else:
            self.port = self.server.add_secure_port("127.0.0.1:0", self.credentials)
        await self.server.start()

    def _handler(self, binding: Binding) -> Callable[..., Awaitable[bytes]]:
        async def handle(raw: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
            request = binding.request.FromString(raw)
            metadata = {k: v for k, v in context.invocation_metadata() or ()}
            self.received.append((binding.name, request, metadata, context.time_remaining()))
            try:
                answer = await self.scripts[binding.name](request, context)
            except asyncio.CancelledError:
                self.cancelled.set()
                raise
            return answer if isinstance(answer, bytes) else answer.SerializeToString()

        return handle

    def upstream(self, host: str = "127.0.0.1") -> GrpcUpstream:
        tls = self.credentials is not None
        base = f"{'grpcs' if tls else 'grpc'}://{host}:{self.port}"
        return GrpcUpstream("library", base, f"{host}:{self.port}", self.routes, tls=tls)

    def message(self, name: str, **values: Any) -> Message:
        binding = next(b for b in self.routes if b.name == name)
        return binding.response(**values)
