"""The event-stream side (server-sent events, the WHATWG HTML standard): the answer's head,
and a connection that only writes.

An event stream is one long response, delimited by the connection's end: the browser's
EventSource reconnects by itself, after the ``retry`` this stream last named, sending
``Last-Event-ID`` (the ``id`` of the last event it got) so the stream resumes there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tailor.live.connection import GAP, LiveConnection
from tailor.live.frames import SSE_PING, sse_event, sse_retry

if TYPE_CHECKING:
    from tailor.live.hub import Event

HEADERS = [
    ("content-type", "text/event-stream"),
    ("cache-control", "no-store"),
    # A proxy that buffers responses (nginx) would hold events back: asked not to.
    ("x-accel-buffering", "no"),
]
_GAP_EVENT = sse_event(GAP)


class EventStreamConnection(LiveConnection):
    """One ``text/event-stream`` after its 200."""

    __slots__ = ()

    def _opened(self, tail: bytes) -> None:
        if self._transport is not None:
            self._transport.write(sse_retry(self._live.settings.reconnect_min_ms))

    def _frame(self, event: Event) -> bytes:
        return event.sse

    def _gap_frame(self) -> bytes:
        return _GAP_EVENT

    def _ping(self) -> None:
        if self._transport is not None:
            self._transport.write(SSE_PING)

    def data_received(self, data: bytes) -> None:
        pass  # nothing more is asked on this connection; its end is connection_lost

    def close(self, code: int, reason: str, retry_ms: int = 0) -> None:
        transport = self._transport
        if transport is None or self._closing:
            return
        if retry_ms:
            transport.write(sse_retry(retry_ms))
        self._closing = True
        transport.close()
