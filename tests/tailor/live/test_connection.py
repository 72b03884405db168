"""A live connection's limits, at the transport seam: a fake transport records what is
written and when it is closed; the server is only the set of connections and a clock."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any, TypeVar, cast

from tailor.live.connection import LiveConnection
from tailor.live.frames import WS_PING
from tailor.live.hub import Event
from tailor.live.settings import LiveSettings
from tailor.live.sse import EventStreamConnection
from tailor.live.websocket import WebSocketConnection


class FakeTransport:
    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.aborted = False
        self.closed = False
        self.limits: tuple[int, int] | None = None

    def set_write_buffer_limits(self, high: int, low: int) -> None:
        self.limits = (high, low)

    def write(self, data: bytes) -> None:
        self.written.append(bytes(data))

    def resume_reading(self) -> None:
        pass

    def get_extra_info(self, name: str) -> Any:
        return None

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def time(self) -> float:
        return self.now


class FakeServer:
    def __init__(self) -> None:
        self.loop = Clock()
        self.connections: set[Any] = set()

    def forget(self, connection: Any) -> None:
        self.connections.discard(connection)


class FakeLive:
    def __init__(self, **settings: Any) -> None:
        self.settings = LiveSettings(**settings)
        self.slow_consumers = 0
        self.dead_peers = 0
        self.gaps = 0
        self.checked: list[LiveConnection] = []

    def detach(self, connection: LiveConnection) -> None:
        pass

    def check_session(self, connection: LiveConnection) -> None:
        self.checked.append(connection)

    def reconnect_ms(self) -> int:
        return 1234


C = TypeVar("C", bound=LiveConnection)


def _open(
    protocol: type[C], live: FakeLive | None = None, **options: Any
) -> tuple[C, FakeTransport, FakeServer]:
    """A connection of ``protocol`` after its hand-over, for u1; ``options`` are the
    connection's own (session_id, resuming, expires_at)."""
    transport, server = FakeTransport(), FakeServer()
    conn = protocol(
        cast(Any, live or FakeLive()), cast(asyncio.Transport, transport), cast(Any, server),
        b"", user="u1", client="127.0.0.1", **options,
    )  # fmt: skip
    return conn, transport, server


def _ws(**settings: Any) -> tuple[WebSocketConnection, FakeTransport, FakeServer]:
    """A WebSocket with ``settings`` for its live routes."""
    return _open(WebSocketConnection, FakeLive(**settings))


def _event(n: int) -> Event:
    return Event(f"{n}-0", ("all",), b'{"n": %d}' % n)


def _close_code(frame: bytes) -> int:
    assert frame[0] == 0x88
    return int.from_bytes(frame[2:4], "big")


def test_the_high_water_mark_keeps_one_event_of_room_under_the_bound() -> None:
    _, transport, _ = _ws(send_buffer_bytes=65536)
    assert transport.limits is not None and transport.limits[0] == 65536 - 4096


def test_an_event_is_written_as_its_shared_frame() -> None:
    conn, transport, _ = _ws()
    event = _event(1)
    conn.deliver(event)
    assert transport.written == [event.ws] and conn.last_id == "1-0"


def test_events_while_the_client_does_not_read_are_dropped() -> None:
    conn, transport, _ = _ws()
    conn.pause_writing()
    conn.deliver(_event(1))
    assert transport.written == []


def test_a_client_that_reads_again_is_told_of_the_gap() -> None:
    conn, transport, _ = _ws()
    conn.pause_writing()
    conn.deliver(_event(1))
    conn.resume_writing()
    assert json.loads(transport.written[-1][2:]) == {"type": "gap"}


def test_a_client_that_missed_nothing_gets_no_gap_marker() -> None:
    conn, transport, _ = _ws()
    conn.pause_writing()
    conn.resume_writing()
    assert transport.written == []


def test_a_buffer_full_past_the_slow_consumer_time_closes_with_1013() -> None:
    conn, transport, server = _ws(slow_consumer_s=5)
    conn.pause_writing()
    server.loop.now += 5
    conn.expire()
    assert _close_code(transport.written[-1]) == 1013 and transport.aborted


def test_a_full_buffer_brings_the_deadline_forward_to_the_slow_consumer_time() -> None:
    conn, _, server = _ws(slow_consumer_s=5, ping_interval_s=60)
    conn.pause_writing()
    assert conn.deadline == server.loop.now + 5


def test_an_idle_connection_is_pinged_at_its_deadline() -> None:
    conn, transport, _ = _ws()
    conn.expire()
    assert transport.written == [WS_PING]


def test_a_ping_unanswered_by_the_next_deadline_drops_the_peer() -> None:
    conn, transport, _ = _ws()
    conn.expire()
    conn.expire()
    assert transport.aborted


def test_a_pong_keeps_the_peer() -> None:
    conn, transport, _ = _ws()
    conn.expire()
    conn.data_received(_masked(0xA, b""))
    conn.expire()
    assert not transport.aborted


def test_a_lone_pong_is_read_without_a_frame_parser() -> None:
    conn, _, _ = _ws()
    conn.data_received(_masked(0xA, b""))
    assert conn._reader is None  # an idle client's pongs cost it no wsproto connection


def test_a_clients_ping_is_answered_with_its_payload() -> None:
    conn, transport, _ = _ws()
    conn.data_received(_masked(0x9, b"hi"))
    assert transport.written[-1] == b"\x8a\x02hi"


def test_a_pong_after_other_frames_goes_to_the_parser() -> None:
    conn, transport, _ = _ws(max_message_bytes=125)
    conn.data_received(_masked(0x1, b"x" * 10))
    conn.data_received(_masked(0xA, b""))
    assert conn._reader is not None and not transport.closed


def test_a_message_over_the_limit_closes_with_1009() -> None:
    conn, transport, _ = _ws(max_message_bytes=125)
    conn.data_received(_masked(0x1, b"x" * 126))
    assert _close_code(transport.written[-1]) == 1009 and transport.closed


def test_invalid_utf8_closes_with_1007() -> None:
    conn, transport, _ = _ws()
    conn.data_received(_masked(0x1, b"\xff\xfe"))
    assert _close_code(transport.written[-1]) == 1007


def test_a_clients_close_is_echoed() -> None:
    conn, transport, _ = _ws()
    conn.data_received(_masked(0x8, (1000).to_bytes(2, "big")))
    assert _close_code(transport.written[-1]) == 1000 and transport.closed


def test_a_graceful_stop_closes_with_1001_and_a_reconnect_hint() -> None:
    conn, transport, _ = _ws()
    conn.shut()
    frame = transport.written[-1]
    assert _close_code(frame) == 1001 and json.loads(frame[4:]) == {"retry_ms": 1234}


def test_an_unanswered_close_is_aborted_at_the_deadline() -> None:
    conn, transport, _ = _ws()
    conn.shut()
    conn.expire()
    assert transport.aborted


def test_the_session_is_checked_when_its_time_comes() -> None:
    live = FakeLive(session_check_s=30, ping_interval_s=60)
    conn, _, server = _open(WebSocketConnection, live, session_id="s1")
    assert conn.deadline == server.loop.now + 30
    server.loop.now += 30
    conn.expire()
    assert live.checked == [conn]


def test_events_arriving_during_a_replay_follow_it_without_repeats() -> None:
    conn, transport, _ = _open(WebSocketConnection, resuming=True)
    conn.deliver(_event(2))
    conn.deliver(_event(3))
    conn.replayed([_event(1), _event(2)])
    assert transport.written == [_event(n).ws for n in (1, 2, 3)]


def test_a_replay_that_cannot_be_made_is_a_gap() -> None:
    conn, transport, _ = _open(EventStreamConnection, resuming=True)
    conn.replayed(None)
    assert transport.written[-1] == b'data: {"type": "gap"}\n\n'


def test_an_event_stream_first_names_its_reconnect_time() -> None:
    _, transport, _ = _open(EventStreamConnection, FakeLive(reconnect_min_ms=1500))
    assert transport.written == [b"retry: 1500\n\n"]


def test_a_websocket_reads_the_frames_that_came_with_its_upgrade() -> None:
    transport, server = FakeTransport(), FakeServer()
    WebSocketConnection(
        cast(Any, FakeLive()), cast(asyncio.Transport, transport), cast(Any, server),
        _masked(0x9, b"hi"), user="u1", client="127.0.0.1",
    )  # fmt: skip
    assert transport.written == [b"\x8a\x02hi"]  # the ping in the tail, answered


def test_an_event_stream_stop_names_the_retry_before_closing() -> None:
    conn, transport, _ = _open(EventStreamConnection)
    conn.shut()
    assert transport.written[-1] == b"retry: 1234\n\n" and transport.closed


def test_a_connection_registers_with_the_server_and_leaves_it_when_lost() -> None:
    conn, _, server = _ws()
    assert conn in server.connections
    conn.connection_lost(None)
    assert conn not in server.connections


def _masked(opcode: int, payload: bytes) -> bytes:
    """A client's frame (clients mask, RFC 6455 s5.3)."""
    mask = b"\x01\x02\x03\x04"
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    size = len(payload)
    if size < 126:
        head = bytes([0x80 | opcode, 0x80 | size])
    else:
        head = bytes([0x80 | opcode, 0x80 | 126]) + size.to_bytes(2, "big")
    return head + mask + body


def test_a_connection_keeps_no_instance_dict() -> None:
    conn, _, _ = _ws()  # slots only: an idle connection is a few hundred bytes
    assert not hasattr(conn, "__dict__")


def test_a_token_past_its_expiry_closes_the_socket_with_1008() -> None:
    live = FakeLive(ping_interval_s=60)
    conn, transport, server = _open(WebSocketConnection, live, expires_at=time.time() + 30)
    assert conn.deadline <= server.loop.now + 30
    server.loop.now += 30
    conn.expire()
    assert _close_code(transport.written[-1]) == 1008


def test_a_session_is_asked_about_at_its_expiry() -> None:
    live = FakeLive(session_check_s=600, ping_interval_s=60)
    conn, _, server = _open(WebSocketConnection, live, session_id="s1", expires_at=time.time() + 30)
    server.loop.now += 30
    conn.expire()
    assert live.checked == [conn]
