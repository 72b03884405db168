"""Default service addresses of the reference platform (the `make demo` ports). A deployment
file overrides them; they never come from a request.

An upstream is HTTP or gRPC by its URL alone: ``grpc://`` calls the service's gRPC API (the
services with a proto serve it beside their JSON API, docs/grpc.md), with the descriptor set
and service names of :func:`grpc_settings`, which every profile carries.
"""

from __future__ import annotations

from typing import Any

from waveform.protos import SERVICES, descriptor_set

DEFAULT_UPSTREAMS = {
    "accounts": "http://127.0.0.1:9001",
    "users": "http://127.0.0.1:9002",
    "tracks": "http://127.0.0.1:9003",
    "playlists": "http://127.0.0.1:9004",
    "social": "http://127.0.0.1:9005",
    "stream": "http://127.0.0.1:9006",
    "recommendations": "http://127.0.0.1:9007",
    "media": "http://127.0.0.1:9008",
    "rights": "http://127.0.0.1:9009",
    "catalog": "http://127.0.0.1:9010",
}

#: The gRPC addresses of the services that have one (the demo's: port + 100).
GRPC_UPSTREAMS = {
    "users": "grpc://127.0.0.1:9102",
    "catalog": "grpc://127.0.0.1:9110",
}


def grpc_settings() -> dict[str, Any]:
    """The config's ``grpc`` table: the platform's descriptor set (compiled when stale) and
    the service each upstream with a proto serves."""
    return {"descriptor_sets": [str(descriptor_set())], "services": dict(SERVICES)}
