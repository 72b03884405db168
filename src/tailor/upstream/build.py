"""The transport named by config (``client.transport``)."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any

from tailor.config import Config, UpstreamClientSettings
from tailor.upstream.transport import Transport, UpstreamRequest, UpstreamResponse


def build_upstream_transport(config: Config) -> Transport:
    """The configured transport, with the gRPC transport for the ``grpc://`` and
    ``connect://`` upstreams (the latter over the configured HTTP transport).

    >>> from tailor.config import build_config
    >>> build_upstream_transport(build_config({"name": "demo"}))  # doctest: +ELLIPSIS
    <tailor.upstream.http1_transport.Http1Transport object at ...>
    """
    http = build_transport(config.client)
    if not config.grpc_upstreams:
        return http
    from tailor.upstream.grpc.transport import build_grpc_transport

    grpc = build_grpc_transport(
        config.upstreams,
        config.grpc.services,
        config.grpc.descriptor_sets,
        http,
        settings=config.grpc,
    )
    return ByUpstream(http, dict.fromkeys(grpc.upstreams, grpc))


class ByUpstream:
    """Each upstream's own transport (gRPC for some), ``default`` for the others."""

    def __init__(self, default: Transport, routes: dict[str, Transport]) -> None:
        self.default = default
        self.routes = routes

    def send(self, request: UpstreamRequest) -> Coroutine[Any, Any, UpstreamResponse]:
        # The chosen transport's own coroutine, not one more around it: one frame less on
        # every call of a BFF with gRPC upstreams.
        return self.routes.get(request.upstream, self.default).send(request)

    async def aclose(self) -> None:
        for transport in {id(t): t for t in (self.default, *self.routes.values())}.values():
            await transport.aclose()


def build_transport(settings: UpstreamClientSettings) -> Transport:
    """The configured transport with its pool settings.

    >>> build_transport(UpstreamClientSettings(transport="http1"))  # doctest: +ELLIPSIS
    <tailor.upstream.http1_transport.Http1Transport object at ...>
    """
    if settings.transport == "pyreqwest":
        from tailor.upstream.pyreqwest_transport import PyreqwestTransport

        return PyreqwestTransport(
            max_connections=settings.max_connections,
            connect_timeout_s=settings.connect_timeout_s,
            pool_idle_timeout_s=settings.pool_idle_timeout_s,
        )
    from tailor.upstream.http1_transport import Http1Transport

    return Http1Transport(
        max_connections=settings.max_connections,
        connect_timeout_s=settings.connect_timeout_s,
        pool_idle_timeout_s=settings.pool_idle_timeout_s,
        max_response_bytes=settings.max_response_bytes,
    )
