"""What goes on the wire, built once per event and shared by every recipient.

A server's WebSocket frames are not masked (RFC 6455 s5.1), so one event's frame is the same
bytes for every socket: it is built once and written to each (a recipient costs a write, not
a framing). Frames from clients (masked, perhaps fragmented, UTF-8 to check) are wsproto's
job (:mod:`tailor.live.websocket`); these are the few a server sends on its own.

>>> ws_text(b'{"type": "gap"}')[:2]
b'\\x81\\x0f'
>>> sse_event(b'{"a": 1}', "1-0")
b'id: 1-0\\ndata: {"a": 1}\\n\\n'
"""

from __future__ import annotations

import struct

#: A ping with no payload; the pong that answers it is all a live client must send.
WS_PING = b"\x89\x00"
#: A comment line: keeps an idle event stream's intermediaries from timing it out.
SSE_PING = b":\n\n"


def _ws_frame(opcode: int, payload: bytes) -> bytes:
    size = len(payload)
    if size < 126:
        head = struct.pack("!BB", 0x80 | opcode, size)
    elif size < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 126, size)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 127, size)
    return head + payload


def ws_text(payload: bytes) -> bytes:
    """One final, unmasked text frame holding ``payload`` (UTF-8 JSON)."""
    return _ws_frame(0x1, payload)


def ws_close(code: int, reason: str = "") -> bytes:
    """A close frame (RFC 6455 s5.5.1): a control frame's payload is at most 125 bytes."""
    payload = struct.pack("!H", code) + reason.encode()[:123]
    return _ws_frame(0x8, payload)


def sse_event(data: bytes, event_id: str = "") -> bytes:
    """One event of a ``text/event-stream`` (JSON data holds no newline)."""
    if event_id:
        return b"id: %s\ndata: %s\n\n" % (event_id.encode(), data)
    return b"data: %s\n\n" % data


def sse_retry(retry_ms: int) -> bytes:
    """The reconnect delay an EventSource waits after this stream ends."""
    return b"retry: %d\n\n" % retry_ms
