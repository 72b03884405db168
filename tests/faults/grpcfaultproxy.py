"""The fault proxy for a gRPC upstream: a real gRPC server on 127.0.0.1 relaying every unary
call, as raw bytes, to one gRPC service, with the same switchable faults, counts and arrival
times as :class:`faultproxy.FaultProxy` (which speaks HTTP/1.1 and cannot carry HTTP/2).

    proxy = await GrpcFaultProxy.start("127.0.0.1:9102")
    proxy.set(Fault("latency", delay_s=0.8))     # every call waits 800 ms, then passes
    proxy.set(Fault("status", status=503))        # UNAVAILABLE from here, never relayed
    await proxy.refuse()                          # the server stops: connections are refused

What each kind becomes on gRPC: ``status`` is the gRPC code of that HTTP status (the table
the services use, ``code_for_http``); ``reset`` is ``UNAVAILABLE`` (what a client sees of a
connection reset mid-call: gRPC multiplexes calls on one connection, and resetting it would
fault every call in flight, not this one); ``truncate`` relays the first half of the answer's
bytes ending in a field cut short (what a message cut mid-way leaves: a cut that happened to fall
between two list items would still parse, as a shorter list); ``drip`` answers after the time the
chunks would take.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from typing import Any

import grpc
from faultproxy import Fault

from tailor.upstream.grpc.status import UNAVAILABLE, code_for_http

_CODES = {code.value[0]: code for code in grpc.StatusCode}
#: Field 1, length-delimited, 127 bytes long, with none of them following.
_CUT_FIELD = b"\x0a\x7f"
#: Metadata gRPC sets itself on each call; relaying it would duplicate it.
_OWN = frozenset({"user-agent", "te", "content-type", "grpc-accept-encoding", "grpc-timeout"})


class GrpcFaultProxy:
    def __init__(self, target: str) -> None:
        self.target = target
        self.fault = Fault()
        self.attempts = 0
        self.arrivals: list[float] = []
        self.faulted = 0
        self.port = 0
        self._rng = random.Random(7)
        self._server: grpc.aio.Server | None = None
        self._channel: grpc.aio.Channel | None = None

    @classmethod
    async def start(cls, target: str) -> GrpcFaultProxy:
        self = cls(target)
        self._channel = grpc.aio.insecure_channel(target)
        await self._listen()
        return self

    @property
    def url(self) -> str:
        return f"grpc://127.0.0.1:{self.port}"

    def set(self, fault: Fault) -> None:
        self.fault = fault

    def reset_counts(self) -> None:
        self.attempts = 0
        self.arrivals = []
        self.faulted = 0

    async def refuse(self) -> None:
        """Stop serving: calls in flight fail, new connections are refused."""
        self.fault = Fault("reset")
        if self._server is not None:
            await self._server.stop(0)
            self._server = None

    async def accept(self) -> None:
        """Serve again, on the same port, and relay calls."""
        self.fault = Fault()
        if self._server is None:
            await self._listen()

    async def close(self) -> None:
        if self._server is not None:
            await self._server.stop(0)
        if self._channel is not None:
            await self._channel.close()

    async def _listen(self) -> None:
        server = grpc.aio.server()
        server.add_generic_rpc_handlers((_Relay(self),))
        port = server.add_insecure_port(f"127.0.0.1:{self.port}")
        await server.start()
        self.port, self._server = port, server

    # -- the proxy itself --------------------------------------------------------------------

    async def handle(self, method: str, request: bytes, context: Any) -> bytes:
        self.attempts += 1
        self.arrivals.append(time.perf_counter())
        fault = self.fault
        if fault.ratio < 1.0 and self._rng.random() >= fault.ratio:
            fault = Fault()
        if fault.kind != "pass":
            self.faulted += 1
        if fault.delay_s:
            await asyncio.sleep(fault.delay_s)
        if fault.kind == "status":
            await context.abort(_CODES[code_for_http(fault.status)], "injected")
        if fault.kind == "reset":
            await context.abort(_CODES[UNAVAILABLE], "connection reset (injected)")
        answer = await self._relay(method, request, context)
        if fault.kind == "truncate":
            return answer[: len(answer) // 2] + _CUT_FIELD
        if fault.kind == "drip":
            await asyncio.sleep(math.ceil(len(answer) / fault.chunk) * fault.interval_s)
        return answer

    async def _relay(self, method: str, request: bytes, context: Any) -> bytes:
        assert self._channel is not None
        metadata = tuple((k, v) for k, v in context.invocation_metadata() or () if k not in _OWN)
        call = self._channel.unary_unary(method)
        try:
            answer: bytes = await call(request, metadata=metadata, timeout=context.time_remaining())
        except grpc.aio.AioRpcError as exc:
            context.set_trailing_metadata(exc.trailing_metadata() or ())
            await context.abort(exc.code(), exc.details() or "")
        return answer


class _Relay(grpc.GenericRpcHandler):
    """Every method, relayed: requests and answers stay bytes (no serializers)."""

    def __init__(self, proxy: GrpcFaultProxy) -> None:
        self._proxy = proxy

    def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler:
        method = details.method  # type: ignore[attr-defined]
        proxy = self._proxy

        async def relay(request: bytes, context: Any) -> bytes:
            return await proxy.handle(method, request, context)

        return grpc.unary_unary_rpc_method_handler(relay)
