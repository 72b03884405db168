"""The live endpoints' settings: the config's ``stages.live`` table, checked at startup.

A bad value stops startup naming its key (``stages.live.send_buffer_bytes``), as does a
server that cannot hand a connection over: live routes need tailor's HTTP/1.1 server
(``server.interface = "http1"``) without HTTP/2 on the same port, and a worker's
connection cap at least as large as its live cap.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from tailor.config import Config
from tailor.errors import ConfigError

_Seconds = Annotated[float, msgspec.Meta(gt=0, le=3600)]


class LiveSettings(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """
    >>> LiveSettings().send_buffer_bytes
    65536
    """

    #: Live connections one user may hold in one worker (one more: 429).
    max_per_user: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 8
    #: Live connections from one client address in one worker (one more: 429).
    max_per_ip: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)] = 64
    #: Live connections one worker holds (one more: 503); within server.max_connections,
    #: which counts them too.
    max_per_worker: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)] = 2048
    #: The Retry-After of those refusals.
    retry_after_s: Annotated[int, msgspec.Meta(ge=1, le=3600)] = 5
    #: Bytes waiting to be sent on one connection at most; past it events are dropped and the
    #: client is told of the gap when it reads again.
    send_buffer_bytes: Annotated[int, msgspec.Meta(ge=4096, le=65536)] = 65536
    #: How long a connection's buffer may stay full before it is closed (1013).
    slow_consumer_s: _Seconds = 10.0
    #: A ping (a comment line on an event stream) after this long without one.
    ping_interval_s: _Seconds = 20.0
    #: A WebSocket that has not answered a ping in this long is dropped as dead.
    pong_timeout_s: _Seconds = 10.0
    #: The largest message a client may send on a WebSocket (past it: close 1009).
    max_message_bytes: Annotated[int, msgspec.Meta(ge=125, le=1_048_576)] = 4096
    #: Events replayed at most on a resume; more missed than this is a gap.
    resume_max_events: Annotated[int, msgspec.Meta(ge=0, le=10_000)] = 500
    #: The reconnect hint on a graceful stop: a delay drawn between these, so clients of a
    #: restarted worker do not all come back at once.
    reconnect_min_ms: Annotated[int, msgspec.Meta(ge=0, le=600_000)] = 1000
    reconnect_max_ms: Annotated[int, msgspec.Meta(ge=0, le=600_000)] = 15_000
    #: A session-authenticated connection asks the session store this often whether its
    #: session still stands (a logout on another worker, an expiry); a logout on its own
    #: worker closes it at once.
    session_check_s: _Seconds = 60.0

    def __post_init__(self) -> None:
        if self.reconnect_max_ms < self.reconnect_min_ms:
            raise ConfigError("stages.live.reconnect_max_ms", "must be >= reconnect_min_ms")

    def check(self, config: Config) -> None:
        """What the rest of ``config`` must allow: raises :class:`ConfigError` naming it."""
        if config.server.interface != "http1":
            raise ConfigError("server.interface", "live routes need tailor's server ('http1')")
        if config.server.http2:
            raise ConfigError("server.http2", "live routes need HTTP/1.1 alone on their port")
        if config.server.max_connections < self.max_per_worker:
            raise ConfigError(
                "stages.live.max_per_worker",
                f"exceeds server.max_connections ({config.server.max_connections})",
            )
