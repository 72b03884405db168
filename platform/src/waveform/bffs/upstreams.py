"""Default service addresses of the reference platform (the `make demo` ports). A deployment
file overrides them; they never come from a request."""

from __future__ import annotations

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
