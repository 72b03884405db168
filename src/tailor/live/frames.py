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


def ws_pong(payload: bytes) -> bytes:
    """The answer to a client's ping: its payload back (RFC 6455 s5.5.3)."""
    return _ws_frame(0xA, payload)


PING, PONG = 0x9, 0xA


def ws_control(data: bytes) -> tuple[int, bytes] | None:
    """``(opcode, payload)`` when ``data`` is exactly one whole masked ping or pong from a
    client, the one thing an idle client sends; ``None`` for anything else (wsproto's).

    >>> ws_control(b"\\x8a\\x80\\x01\\x02\\x03\\x04")  # a pong, masked, nothing in it
    (10, b'')
    >>> ws_control(b"\\x89\\x82\\x01\\x02\\x03\\x04hk")
    (9, b'ii')
    """
    if len(data) < 6 or (data[0] != 0x89 and data[0] != 0x8A) or not data[1] & 0x80:
        return None
    size = data[1] & 0x7F
    if size > 125 or len(data) != 6 + size:
        return None
    mask = data[2:6]
    return data[0] & 0x0F, bytes(b ^ mask[i & 3] for i, b in enumerate(data[6:]))


def sse_event(data: bytes, event_id: str = "") -> bytes:
    """One event of a ``text/event-stream`` (JSON data holds no newline)."""
    if event_id:
        return b"id: %s\ndata: %s\n\n" % (event_id.encode(), data)
    return b"data: %s\n\n" % data


def sse_retry(retry_ms: int) -> bytes:
    """The reconnect delay an EventSource waits after this stream ends."""
    return b"retry: %d\n\n" % retry_ms
