"""The upstream seam: registry, client, and transports."""

from tailor.upstream.client import UpstreamClient
from tailor.upstream.mock import MockTransport
from tailor.upstream.registry import ServiceRegistry
from tailor.upstream.transport import Transport, UpstreamRequest, UpstreamResponse

__all__ = [
    "MockTransport",
    "ServiceRegistry",
    "Transport",
    "UpstreamClient",
    "UpstreamRequest",
    "UpstreamResponse",
]
