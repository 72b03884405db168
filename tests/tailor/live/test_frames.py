"""Frames a server sends, built once per event."""

from __future__ import annotations

import struct

from wsproto.frame_protocol import FrameProtocol, Opcode

from tailor.live.frames import sse_event, sse_retry, ws_close, ws_text


def _parse(frame: bytes) -> tuple[Opcode, bytes]:
    reader = FrameProtocol(client=True, extensions=[])
    reader.receive_bytes(frame)
    parsed = next(iter(reader.received_frames()))
    payload = parsed.payload
    return parsed.opcode, payload.encode() if isinstance(payload, str) else bytes(payload)


def test_a_short_text_frame_is_read_back_by_a_client_parser() -> None:
    assert _parse(ws_text(b'{"a": 1}')) == (Opcode.TEXT, b'{"a": 1}')


def test_a_text_frame_over_125_bytes_uses_the_16_bit_length() -> None:
    frame = ws_text(b"x" * 300)
    assert frame[1] == 126 and struct.unpack("!H", frame[2:4])[0] == 300


def test_a_text_frame_over_64_kib_uses_the_64_bit_length() -> None:
    frame = ws_text(b"x" * 70_000)
    assert frame[1] == 127 and struct.unpack("!Q", frame[2:10])[0] == 70_000


def test_a_close_frame_carries_its_code_first() -> None:
    frame = ws_close(1013, "slow")
    assert frame[0] == 0x88 and struct.unpack("!H", frame[2:4])[0] == 1013


def test_a_close_reason_is_cut_to_fit_a_control_frame() -> None:
    assert len(ws_close(1001, "r" * 500)) == 2 + 125


def test_an_event_stream_event_names_its_id_before_its_data() -> None:
    assert sse_event(b"{}", "5-1") == b"id: 5-1\ndata: {}\n\n"


def test_an_event_stream_retry_is_in_milliseconds() -> None:
    assert sse_retry(2500) == b"retry: 2500\n\n"
