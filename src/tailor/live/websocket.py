"""The WebSocket side (RFC 6455): the handshake's answer, and a connection that sends
events and reads what little a client sends (pongs, pings, its close).

Reading is wsproto's (sans-I/O: unmasking, fragments, UTF-8 checks, control frames), made
only when the client first sends more than a lone pong or ping: an idle client sends only
those, and a parser kept for each would cost it as much again as the rest of its
connection. A message over ``max_message_bytes`` closes
with 1009, invalid UTF-8 with 1007, a protocol error with 1002 (wsproto names the code).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wsproto.connection import Connection, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Ping, TextMessage
from wsproto.utilities import generate_accept_token

from tailor.live.connection import GAP, TOO_BIG, LiveConnection
from tailor.live.frames import PING, WS_PING, ws_close, ws_control, ws_pong, ws_text

if TYPE_CHECKING:
    from tailor.live.hub import Event

_GAP_FRAME = ws_text(GAP)


def accept_token(key: str) -> str:
    """``Sec-WebSocket-Accept`` for a client's ``Sec-WebSocket-Key``.

    >>> accept_token("dGhlIHNhbXBsZSBub25jZQ==")  # RFC 6455 s1.3
    's3pPLMBiTxaQ9kYGzzhZRbK+xOo='
    """
    return generate_accept_token(key.encode()).decode()


class WebSocketConnection(LiveConnection):
    """One WebSocket after the 101."""

    __slots__ = ("_message", "_reader")

    def _opened(self, tail: bytes) -> None:
        self._reader: Connection | None = None
        self._message = 0  # bytes of the message being received
        transport = self._transport
        if transport is not None:
            transport.resume_reading()  # paused by the server when it saw the upgrade
        if tail:
            self.data_received(tail)

    def _frame(self, event: Event) -> bytes:
        return event.ws

    def _gap_frame(self) -> bytes:
        return _GAP_FRAME

    def _ping(self) -> None:
        if self._transport is not None:
            self._transport.write(WS_PING)
            self._awaiting_pong = True

    def close(self, code: int, reason: str, retry_ms: int = 0) -> None:
        transport = self._transport
        if transport is None or self._closing:
            return
        transport.write(ws_close(code, reason))
        self._closed_in(self._live.settings.pong_timeout_s)

    def data_received(self, data: bytes) -> None:
        self._awaiting_pong = False  # any frame shows the peer is alive
        reader = self._reader
        if reader is None:
            control = ws_control(data)
            if control is not None:  # a pong (or a ping) alone: no parser for that
                opcode, payload = control
                if opcode == PING and self._transport is not None and not self._closing:
                    self._transport.write(ws_pong(payload))
                return
            reader = self._reader = Connection(ConnectionType.SERVER)
        reader.receive_data(data)
        limit = self._live.settings.max_message_bytes
        for event in reader.events():
            if isinstance(event, (TextMessage, BytesMessage)):
                self._message += len(event.data)
                if self._message > limit:
                    self._fail(TOO_BIG, "message too big")
                    return
                if event.message_finished:
                    self._message = 0  # a client has nothing to say: read and let go
            elif isinstance(event, Ping):
                if self._transport is not None and not self._closing:
                    self._transport.write(reader.send(event.response()))
            elif isinstance(event, CloseConnection):
                self._closed_by_client(event.code, event.reason)
                return

    def _closed_by_client(self, code: int, reason: str | None) -> None:
        transport = self._transport
        if transport is None:
            return
        if self._closing:  # the answer to our close
            transport.close()
        elif code in (1002, 1007, 1009) and reason:  # wsproto failed the client's frames
            self._fail(code, reason)
        else:  # the client's own close: echo it (RFC 6455 s5.5.1)
            transport.write(ws_close(1000 if code == 1005 else code))
            self._closing = True
            transport.close()

    def _fail(self, code: int, reason: str) -> None:
        """The client broke the protocol: close with ``code``, read nothing more from it."""
        transport = self._transport
        if transport is None:
            return
        transport.write(ws_close(code, reason))
        self._closing = True
        transport.close()
