"""The standard services a gRPC server answers beside its own: health checking
(``grpc.health.v1.Health``) and server reflection (``grpc.reflection.v1alpha`` and ``v1``),
as :class:`~waveform.services.grpc_server.Method` s.

Their logic is grpcio's own (``grpc_health``'s asyncio servicer, ``grpc_reflection``'s), run
without grpcio's server: a servicer is handed the parsed request and a :class:`_Context`
that turns its ``write`` and ``abort`` into this server's. So the answers are the ones
grpcio gave (SERVICE_UNKNOWN from a watch of an unknown name, NOT_FOUND from a check of
one, reflection's error responses), and there is no second implementation to keep in step.
Reflection ``v1`` has the same messages as ``v1alpha`` (only the package differs), so the
one servicer answers both.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import Any, NoReturn

from google.protobuf.message import DecodeError
from grpc_health.v1 import health, health_pb2
from grpc_reflection.v1alpha import reflection_pb2
from grpc_reflection.v1alpha._async import ReflectionServicer

from waveform.services.grpc_server import INTERNAL, CallContext, GrpcError, Method

HEALTH = health.SERVICE_NAME
REFLECTION_V1ALPHA = "grpc.reflection.v1alpha.ServerReflection"
REFLECTION_V1 = "grpc.reflection.v1.ServerReflection"


class _Context:
    """The part of grpcio's ``ServicerContext`` the servicers use."""

    def __init__(self, call: CallContext) -> None:
        self._call = call

    async def write(self, message: Any) -> None:
        self._call.write(message.SerializeToString())

    async def abort(self, code: Any, details: str = "", trailing_metadata: Any = ()) -> NoReturn:
        raise GrpcError(int(code.value[0]), details)


def health_methods(checker: health.aio.HealthServicer) -> dict[str, Method]:
    """``Check`` and ``Watch`` answered by ``checker`` (whose statuses the server sets)."""

    async def check(raw: bytes, call: CallContext) -> bytes:
        request = _parsed(health_pb2.HealthCheckRequest, raw)
        answer = await checker.Check(request, _Context(call))
        return bytes(answer.SerializeToString())

    async def watch(call: CallContext) -> None:
        request = _parsed(health_pb2.HealthCheckRequest, await call.read())
        await checker.Watch(request, _Context(call))  # until the call ends

    return {
        f"/{HEALTH}/Check": Method(unary=check),
        f"/{HEALTH}/Watch": Method(streaming=watch, lasting=True),
    }


def reflection_methods(names: Iterable[str], pool: Any) -> dict[str, Method]:
    """``ServerReflectionInfo`` (v1alpha and v1) for the services ``names``, from ``pool``."""
    services = (*names, HEALTH, REFLECTION_V1ALPHA, REFLECTION_V1)
    servicer = ReflectionServicer(services, pool=pool)

    async def info(call: CallContext) -> None:
        async def requests() -> AsyncIterator[Any]:
            while (raw := await call.read()) is not None:
                yield _parsed(reflection_pb2.ServerReflectionRequest, raw)

        context = _Context(call)
        async for answer in servicer.ServerReflectionInfo(requests(), context):
            await context.write(answer)

    method = Method(streaming=info)
    return {f"/{name}/ServerReflectionInfo": method for name in (REFLECTION_V1ALPHA, REFLECTION_V1)}


def _parsed(kind: Any, raw: bytes | None) -> Any:
    """The request message, or the call's INTERNAL status as grpcio's server gives it."""
    if raw is None:
        raise GrpcError(INTERNAL, "no request message")
    try:
        return kind.FromString(raw)
    except DecodeError:
        raise GrpcError(INTERNAL, "Exception deserializing request!") from None
