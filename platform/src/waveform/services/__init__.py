"""The reference platform's internal services (foundation and value-added).

Each module is one service, runnable as ``python -m waveform.services.<name>``; see
``docs/services.md`` for ports, endpoints and PII fields.
"""

from __future__ import annotations

#: name -> default port, in start order (catalog last: it calls tracks, rights, media).
SERVICES: dict[str, int] = {
    "accounts": 9001,
    "users": 9002,
    "tracks": 9003,
    "playlists": 9004,
    "social": 9005,
    "stream": 9006,
    "recommendations": 9007,
    "media": 9008,
    "rights": 9009,
    "catalog": 9010,
    "tokens": 9011,  # internal token exchange; every service checks its tokens
}
