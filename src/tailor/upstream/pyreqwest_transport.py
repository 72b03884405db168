"""The optional transport (``client.transport = "pyreqwest"``, ``tailor[pyreqwest]``):
pyreqwest (Rust reqwest/hyper), pooled and keep-alive.

It was the first default, chosen by measurement over aiohttp and httpx, until the in-loop
transport (:mod:`tailor.upstream.http1_transport`) cost less per call; docs/benchmarks.md has
both measurements. hyper retries a request that was never sent on a pooled connection the peer
had already closed, which covers the keep-alive limit of nginx-fronted services.
"""

from __future__ import annotations

from datetime import timedelta

from pyreqwest.client import Client, ClientBuilder
from pyreqwest.exceptions import (
    ConnectError,
    PyreqwestError,
    RequestTimeoutError,
)

from tailor.errors import UpstreamTimeout, UpstreamUnavailable
from tailor.upstream.transport import UpstreamRequest, UpstreamResponse


class PyreqwestTransport:
    """Pooled HTTP/1.1 transport.

    >>> transport = PyreqwestTransport(max_connections=256)
    """

    def __init__(
        self,
        *,
        max_connections: int = 512,
        connect_timeout_s: float = 1.0,
        pool_idle_timeout_s: float = 50.0,
    ) -> None:
        self._client: Client = (
            ClientBuilder()
            .max_connections(max_connections)
            .connect_timeout(timedelta(seconds=connect_timeout_s))
            .pool_idle_timeout(timedelta(seconds=pool_idle_timeout_s))
            .pool_max_idle_per_host(max_connections)
            .follow_redirects(False)  # an upstream never redirects a BFF somewhere else
            .tcp_nodelay(True)
            .http1_only()
            .build()
        )

    async def send(self, request: UpstreamRequest) -> UpstreamResponse:
        builder = (
            self._client.request(request.method, request.url)
            .headers(request.headers)
            .timeout(timedelta(seconds=request.timeout_s))
        )
        if request.body is not None:
            builder = builder.body_bytes(request.body)
        try:
            response = await builder.build().send()
            body = await response.bytes()
        except RequestTimeoutError as exc:
            raise UpstreamTimeout(request.upstream, "timed out") from exc
        except ConnectError as exc:
            raise UpstreamUnavailable(request.upstream, "connection failed") from exc
        except PyreqwestError as exc:
            raise UpstreamUnavailable(request.upstream, type(exc).__name__) from exc
        return UpstreamResponse(response.status, response.headers, bytes(body))

    async def aclose(self) -> None:
        await self._client.close()
