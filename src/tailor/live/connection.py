"""A live connection after the hand-over: events out, within a bounded buffer, and the
server's deadlines (ping, dead peer, slow consumer, session) in.

The server tends it like any connection (:class:`tailor.serve.http1.Served`): its sweep
calls :meth:`LiveConnection.expire` when ``deadline`` passes, and a graceful stop calls
:meth:`~LiveConnection.shut`. One connection holds a handful of slots and no task: an idle
one costs its transport and this object (docs/live.md has the figures).

Back-pressure: the transport's high-water mark is the send buffer's bound less one event
(:data:`tailor.live.hub.MAX_EVENT_BYTES`), so a write never takes the buffer past
``send_buffer_bytes``. While the transport says the client is not reading, events are
dropped and the connection remembers it; when it reads again it gets a gap marker, and its
client resumes from the event log. The socket's kernel send buffer is held to the same size
(``SO_SNDBUF``), so a client that stops reading is noticed after tens of kilobytes, not
megabytes. A buffer still full after ``slow_consumer_s`` closes the
connection (WebSocket 1013), its unsent bytes dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import socket
import time
from typing import TYPE_CHECKING

from tailor.live.hub import MAX_EVENT_BYTES, Event

if TYPE_CHECKING:
    from tailor.live.endpoint import Live
    from tailor.serve.http1 import Http1Server

GAP = b'{"type": "gap"}'

#: Close codes (RFC 6455 s7.4.1, and the IANA registry for 1012-1014).
GOING_AWAY = 1001
POLICY_VIOLATION = 1008
TOO_BIG = 1009
TRY_AGAIN_LATER = 1013


def reconnect_reason(retry_ms: int) -> str:
    """A close reason clients parse for when to come back.

    >>> reconnect_reason(2500)
    '{"retry_ms": 2500}'
    """
    return json.dumps({"retry_ms": retry_ms})


class LiveConnection(asyncio.Protocol):
    """What both live protocols share; :meth:`_frame` and the close are each one's own."""

    __slots__ = (
        "_awaiting_pong",
        "_closing",
        "_expires_at",
        "_gap",
        "_held",
        "_live",
        "_loop",
        "_paused_at",
        "_server",
        "_session_at",
        "_transport",
        "client",
        "deadline",
        "last_id",
        "session_id",
        "topics",
        "user",
    )

    def __init__(
        self,
        live: Live,
        transport: asyncio.Transport,
        server: Http1Server,
        tail: bytes,
        *,
        user: str,
        client: str,
        session_id: str = "",
        resuming: bool = False,
        expires_at: float = 0.0,
    ) -> None:
        self._live = live
        self._transport: asyncio.Transport | None = transport
        self._server = server
        self._loop = server.loop
        self.user = user
        self.client = client
        self.session_id = session_id
        self.topics: tuple[str, ...] = ()
        self.last_id = ""
        self._gap = False
        self._paused_at = math.inf  # when the client stopped reading
        self._awaiting_pong = False
        self._closing = False
        #: Events that arrived while the missed ones are replayed: sent after them.
        self._held: list[Event] | None = [] if resuming else None
        now = self._loop.time()
        settings = live.settings
        # When the credential expires (epoch seconds, 0: never), on the loop's clock.
        self._expires_at = now + max(0.0, expires_at - time.time()) if expires_at else math.inf
        self._session_at = now + settings.session_check_s if session_id else math.inf
        if session_id:  # a session is asked about at its expiry too (it may have been renewed)
            self._session_at = min(self._session_at, self._expires_at)
        self.deadline = min(now + settings.ping_interval_s, self._session_at, self._expires_at)
        high = settings.send_buffer_bytes - MAX_EVENT_BYTES
        transport.set_write_buffer_limits(high=high, low=high // 4)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            # The kernel's buffer too, or it grows to megabytes for a client that stopped
            # reading (loopback autotuning), and the gap comes that much later.
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, settings.send_buffer_bytes)
        server.connections.add(self)
        self._opened(tail)

    def _opened(self, tail: bytes) -> None:
        """What the protocol says first, and what it makes of ``tail`` (bytes the client sent
        after its request)."""
        raise NotImplementedError

    # -- events out ------------------------------------------------------------------------

    def _frame(self, event: Event) -> bytes:
        raise NotImplementedError

    def _gap_frame(self) -> bytes:
        raise NotImplementedError

    def deliver(self, event: Event) -> None:
        if self._paused_at != math.inf or self._closing:
            self._gap = True
            return
        held = self._held
        if held is not None:
            if len(held) >= self._live.settings.resume_max_events:
                self._gap = True
            else:
                held.append(event)
            return
        transport = self._transport
        if transport is not None:
            transport.write(self._frame(event))
            self.last_id = event.id

    def replayed(self, events: list[Event] | None) -> None:
        """The events missed since the client's last one (``None``: more than can be
        replayed, or an id the log no longer has: a gap), then those held meanwhile."""
        held, self._held = self._held or [], None
        if events is None:
            self._gap = True
            events = []
        seen = {e.id for e in events}
        for event in events:
            self.deliver(event)
        for event in held:
            if event.id not in seen:
                self.deliver(event)
        self._tell_gap()

    def _tell_gap(self) -> None:
        transport = self._transport
        if self._gap and transport is not None and self._paused_at == math.inf:
            self._gap = False
            self._live.gaps += 1
            transport.write(self._gap_frame())

    # -- asyncio.Protocol ------------------------------------------------------------------

    def pause_writing(self) -> None:
        self._paused_at = now = self._loop.time()
        self.deadline = min(self.deadline, now + self._live.settings.slow_consumer_s)

    def resume_writing(self) -> None:
        self._paused_at = math.inf
        self._tell_gap()

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self._live.detach(self)
        self._server.forget(self)

    # -- the server's deadlines ------------------------------------------------------------

    def expire(self) -> None:
        transport = self._transport
        if transport is None:
            return
        settings = self._live.settings
        now = self._loop.time()
        if self._closing:  # the close did not finish in time
            transport.abort()
        elif now >= self._paused_at + settings.slow_consumer_s:
            self._live.slow_consumers += 1
            self.close(TRY_AGAIN_LATER, "slow consumer: resume from your last event id")
            transport.abort()  # what is unsent can only be dropped
        elif self._awaiting_pong:
            self._live.dead_peers += 1
            transport.abort()
        elif now >= self._expires_at and not self.session_id:
            self.close(POLICY_VIOLATION, "credential expired")
        else:
            if now >= self._session_at:
                self._session_at = now + settings.session_check_s
                self._live.check_session(self)
            self._ping()
            wait = settings.pong_timeout_s if self._awaiting_pong else settings.ping_interval_s
            self.deadline = min(now + wait, self._session_at)
            if not self.session_id:
                self.deadline = min(self.deadline, self._expires_at)
            if self._paused_at != math.inf:
                self.deadline = min(self.deadline, self._paused_at + settings.slow_consumer_s)

    def _ping(self) -> None:
        raise NotImplementedError

    def shut(self) -> None:
        """A graceful stop: closed with a jittered reconnect hint (1001 on a WebSocket)."""
        retry_ms = self._live.reconnect_ms()
        self.close(GOING_AWAY, reconnect_reason(retry_ms), retry_ms)

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    def close(self, code: int, reason: str, retry_ms: int = 0) -> None:
        """Say why, and close (a WebSocket waits for the client's close for a while);
        ``retry_ms`` is when the client should come back."""
        raise NotImplementedError

    def _closed_in(self, wait_s: float) -> None:
        self._closing = True
        self.deadline = self._loop.time() + wait_s
