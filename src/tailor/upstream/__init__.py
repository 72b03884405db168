"""The upstream seam: registry, client, deadline, and transports."""

from tailor.upstream.client import UpstreamClient
from tailor.upstream.deadline import DEADLINE_HEADER, Deadline
from tailor.upstream.mock import MockTransport
from tailor.upstream.registry import ServiceRegistry
from tailor.upstream.transport import Transport, UpstreamRequest, UpstreamResponse

__all__ = [
    "DEADLINE_HEADER",
    "Deadline",
    "MockTransport",
    "ServiceRegistry",
    "Transport",
    "UpstreamClient",
    "UpstreamRequest",
    "UpstreamResponse",
]
