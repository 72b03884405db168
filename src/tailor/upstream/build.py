"""The transport named by config (``client.transport``)."""

from __future__ import annotations

from tailor.config import UpstreamClientSettings
from tailor.upstream.transport import Transport


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
