"""HTTP/2 conformance of tailor's server, ported from h2spec (its ``generic``, ``http2`` and
``hpack`` sections, numbered as there; RFC 9113 where it changed RFC 7540's rule).

Every case sends frames crafted with hyperframe and hpack (or byte by byte when a frame must
be malformed) to one server for the whole module, and expects what h2spec expects: a
connection error is a GOAWAY with the code named (then the close), a stream error a
RST_STREAM with it (or a GOAWAY with it, which h2spec accepts too), and a frame that must be
ignored leaves the connection answering a PING. The server is tailor's own, on uvloop, with
HTTP/2 switched on; the engine under it (nghttp2, through ngh2) is what these cases pin down.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator

import pytest
from h2wire import (
    ACK,
    COMPRESSION_ERROR,
    CONTINUATION,
    DATA,
    END_HEADERS,
    END_STREAM,
    FLOW_CONTROL_ERROR,
    FRAME_SIZE_ERROR,
    GOAWAY,
    HEADERS,
    PADDED,
    PING,
    PREFACE,
    PRIORITY,
    PRIORITY_FLAG,
    PROTOCOL_ERROR,
    PUSH_PROMISE,
    REFUSED_STREAM,
    REQUEST,
    RST_STREAM,
    SETTINGS,
    STREAM_CLOSED,
    WINDOW_UPDATE,
    Served,
    Wire,
    answer,
    raw,
    serving,
)
from hpack.huffman import HuffmanEncoder
from hpack.huffman_constants import REQUEST_CODES, REQUEST_CODES_LENGTH
from hyperframe import frame as F


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    with serving(answer) as served:
        yield served


Case = Callable[[Wire], None]
CASES: dict[str, Case] = {}


def h2spec(section: str, sentence: str) -> Callable[[Case], Case]:
    def register(case: Case) -> Case:
        CASES[f"{section}: {sentence}"] = case
        return case

    return register


# -- helpers --------------------------------------------------------------------------------

POST = [(":method", "POST"), (":scheme", "http"), (":path", "/"), (":authority", "test")]


def ok(w: Wire, stream: int = 1) -> bytes:
    headers, body = w.response(stream)
    assert headers[":status"] == "200"
    return body


def u32(value: int) -> bytes:
    return struct.pack(">I", value)


def priority(dependency: int = 0, weight: int = 15, exclusive: bool = False) -> bytes:
    return u32(dependency | (0x80000000 if exclusive else 0)) + bytes([weight])


def setting(identifier: int, value: int) -> bytes:
    return struct.pack(">HI", identifier, value)


def integer(value: int, prefix: int, flags: int) -> bytes:
    """An HPACK integer (RFC 7541 s5.1) with a ``prefix``-bit prefix after ``flags``."""
    limit = (1 << prefix) - 1
    if value < limit:
        return bytes([flags | value])
    out = bytearray([flags | limit])
    value -= limit
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def string(text: str, huffman: bool = False) -> bytes:
    data = text.encode()
    if huffman:
        data = HuffmanEncoder(REQUEST_CODES, REQUEST_CODES_LENGTH).encode(data)
        return integer(len(data), 7, 0x80) + data
    return integer(len(data), 7, 0) + data


#: :method GET, :scheme http, :path / from the static table (indexes 2, 6, 4).
STATIC_GET = bytes([0x82, 0x86, 0x84])
AUTHORITY = integer(1, 6, 0x40) + string("test")  # :authority, indexed name, new value


def block_request(w: Wire, block: bytes, stream: int = 1) -> None:
    w.send(raw(HEADERS, END_STREAM | END_HEADERS, stream, block))


# -- generic ----------------------------------------------------------------------------------


@h2spec("generic 1.1", "a client connection preface opens a working connection")
def _(w: Wire) -> None:
    w.alive()


@h2spec("generic 2.1", "a PRIORITY frame on an idle stream is accepted")
def _(w: Wire) -> None:
    w.send(raw(PRIORITY, 0, 3, priority()))
    w.alive()


@h2spec("generic 2.2", "a WINDOW_UPDATE on a half-closed (remote) stream is accepted")
def _(w: Wire) -> None:
    w.send(w.headers(1), F.WindowUpdateFrame(1, 100))
    ok(w)
    w.alive()


@h2spec("generic 2.3", "a PRIORITY frame on a half-closed (remote) stream is accepted")
def _(w: Wire) -> None:
    w.send(w.headers(1), raw(PRIORITY, 0, 1, priority()))
    ok(w)
    w.alive()


@h2spec("generic 2.4", "a RST_STREAM on a half-closed (remote) stream is accepted")
def _(w: Wire) -> None:
    w.send(w.headers(1), F.RstStreamFrame(1, 8))
    w.alive()


@h2spec("generic 2.5", "a PRIORITY frame on a closed stream is accepted")
def _(w: Wire) -> None:
    w.send(w.headers(1))
    ok(w)
    w.send(raw(PRIORITY, 0, 1, priority()))
    w.alive()


@h2spec("generic 3.1.1", "a request body in one DATA frame is read")
def _(w: Wire) -> None:
    w.send(w.headers(1, POST, end_stream=False), F.DataFrame(1, b"x" * 10, flags=["END_STREAM"]))
    assert ok(w) == b"10 bytes"


@h2spec("generic 3.1.2", "a request body in several DATA frames is read whole")
def _(w: Wire) -> None:
    w.send(w.headers(1, POST, end_stream=False))
    w.send(F.DataFrame(1, b"x" * 10), F.DataFrame(1, b"x" * 10))
    w.send(F.DataFrame(1, b"x" * 10, flags=["END_STREAM"]))
    assert ok(w) == b"30 bytes"


@h2spec("generic 3.1.3", "a DATA frame's padding is not part of the body")
def _(w: Wire) -> None:
    w.send(w.headers(1, POST, end_stream=False))
    w.send(raw(DATA, END_STREAM | PADDED, 1, bytes([8]) + b"x" * 10 + b"\0" * 8))
    assert ok(w) == b"10 bytes"


@h2spec("generic 3.2.1", "a request in one HEADERS frame is answered")
def _(w: Wire) -> None:
    w.send(w.headers(1))
    assert ok(w) == b"answer to /"


@h2spec("generic 3.2.2", "a request in HEADERS and CONTINUATION is answered")
def _(w: Wire) -> None:
    block = w.block(REQUEST)
    w.send(raw(HEADERS, END_STREAM, 1, block[:3]), raw(CONTINUATION, END_HEADERS, 1, block[3:]))
    ok(w)


@h2spec("generic 3.2.3", "a HEADERS frame's padding is not part of the block")
def _(w: Wire) -> None:
    block = w.block(REQUEST)
    w.send(raw(HEADERS, END_STREAM | END_HEADERS | PADDED, 1, bytes([6]) + block + b"\0" * 6))
    ok(w)


@h2spec("generic 3.2.4", "a HEADERS frame with a priority is answered")
def _(w: Wire) -> None:
    block = w.block(REQUEST)
    w.send(raw(HEADERS, END_STREAM | END_HEADERS | PRIORITY_FLAG, 1, priority() + block))
    ok(w)


for n, (sentence, payload) in enumerate(
    [
        ("a PRIORITY frame with the default priority is accepted", priority()),
        ("a PRIORITY frame with the exclusive flag is accepted", priority(exclusive=True)),
        ("a PRIORITY frame with a stream dependency is accepted", priority(dependency=1)),
        ("a PRIORITY frame with a weight is accepted", priority(weight=255)),
    ],
    start=1,
):

    @h2spec(f"generic 3.3.{n}", sentence)
    def _(w: Wire, payload: bytes = payload) -> None:
        w.send(raw(PRIORITY, 0, 3, payload))
        w.alive()


@h2spec("generic 3.3.5", "a PRIORITY frame on an open stream is accepted")
def _(w: Wire) -> None:
    w.send(w.headers(1, POST, end_stream=False), raw(PRIORITY, 0, 1, priority(weight=1)))
    w.send(F.DataFrame(1, b"", flags=["END_STREAM"]))
    ok(w)


@h2spec("generic 3.4.1", "a RST_STREAM frame ends the stream and not the connection")
def _(w: Wire) -> None:
    w.send(w.headers(1, POST, end_stream=False), F.RstStreamFrame(1, 8))
    w.alive()


@h2spec("generic 3.5.1", "a SETTINGS frame with every parameter is acknowledged")
def _(w: Wire) -> None:
    values = {1: 4096, 2: 0, 3: 100, 4: 65535, 5: 16384, 6: 65536}
    w.send(F.SettingsFrame(0, settings=values))
    for frame in w.frames():
        if isinstance(frame, F.SettingsFrame):
            assert "ACK" in frame.flags
            break
    w.alive()


@h2spec("generic 3.5.2", "an acknowledgement of no SETTINGS sent is a PROTOCOL_ERROR")
def _(w: Wire) -> None:
    # nghttp2's reading: the acknowledgement of the client's first SETTINGS came in the
    # handshake, so this one acknowledges nothing.
    w.send(raw(SETTINGS, ACK, 0))
    w.goaway(PROTOCOL_ERROR)


@h2spec("generic 3.7.1", "a PING frame is acknowledged with its payload")
def _(w: Wire) -> None:
    w.alive(b"\x01\x02\x03\x04\x05\x06\x07\x08")


@h2spec("generic 3.8.1", "a GOAWAY frame from the client ends the connection without error")
def _(w: Wire) -> None:
    w.send(F.GoAwayFrame(0, last_stream_id=0, error_code=0))
    for frame in w.frames():
        assert not isinstance(frame, F.GoAwayFrame) or frame.error_code == 0


@h2spec("generic 3.9.1", "a WINDOW_UPDATE on the connection is accepted")
def _(w: Wire) -> None:
    w.send(F.WindowUpdateFrame(0, 1))
    w.alive()


@h2spec("generic 3.9.2", "a WINDOW_UPDATE on an open stream is accepted")
def _(w: Wire) -> None:
    w.send(w.headers(1, POST, end_stream=False), F.WindowUpdateFrame(1, 1))
    w.send(F.DataFrame(1, b"", flags=["END_STREAM"]))
    ok(w)


@h2spec("generic 3.10.1", "a CONTINUATION frame completes a header block")
def _(w: Wire) -> None:
    block = w.block([*REQUEST, ("x-one", "1")])
    w.send(raw(HEADERS, END_STREAM, 1, block[:5]), raw(CONTINUATION, END_HEADERS, 1, block[5:]))
    ok(w)


@h2spec("generic 3.10.2", "several CONTINUATION frames complete a header block")
def _(w: Wire) -> None:
    block = w.block([*REQUEST, ("x-one", "1"), ("x-two", "2")])
    w.send(raw(HEADERS, END_STREAM, 1, block[:4]), raw(CONTINUATION, 0, 1, block[4:8]))
    w.send(raw(CONTINUATION, END_HEADERS, 1, block[8:]))
    ok(w)


@h2spec("generic 4.1", "a GET is answered with its body")
def _(w: Wire) -> None:
    w.send(w.headers(1, [*REQUEST[:2], (":path", "/a"), REQUEST[3]]))
    assert ok(w) == b"answer to /a"


@h2spec("generic 4.2", "a HEAD is answered without a body")
def _(w: Wire) -> None:
    w.send(w.headers(1, [(":method", "HEAD"), *REQUEST[1:]]))
    headers, body = w.response(1)
    assert headers[":status"] == "200" and body == b""
    assert headers["content-length"] == str(len(b"answer to /"))


@h2spec("generic 4.3", "a POST is answered")
def _(w: Wire) -> None:
    w.send(w.headers(1, POST, end_stream=False), F.DataFrame(1, b"abc", flags=["END_STREAM"]))
    assert ok(w) == b"3 bytes"


@h2spec("generic 4.4", "a POST with trailers is answered")
def _(w: Wire) -> None:
    w.send(w.headers(1, POST, end_stream=False), F.DataFrame(1, b"abc"))
    w.send(w.headers(1, [("x-trailer", "t")], end_stream=True))
    assert ok(w) == b"3 bytes"


for n, (sentence, field) in enumerate(
    [
        ("an indexed field from the static table is decoded", bytes([0x90])),  # accept-encoding
        (
            "a literal field with incremental indexing and an indexed name is decoded",
            integer(19, 6, 0x40) + string("*/*"),
        ),
        (
            "a literal field with incremental indexing and a new name is decoded",
            bytes([0x40]) + string("x-new") + string("v"),
        ),
        (
            "a literal field without indexing and an indexed name is decoded",
            integer(19, 4, 0x00) + string("*/*"),
        ),
        (
            "a literal field without indexing and a new name is decoded",
            bytes([0x00]) + string("x-new") + string("v"),
        ),
        (
            "a literal field never indexed with an indexed name is decoded",
            integer(19, 4, 0x10) + string("*/*"),
        ),
        (
            "a literal field never indexed with a new name is decoded",
            bytes([0x10]) + string("x-new") + string("v"),
        ),
        (
            "a Huffman-encoded string is decoded",
            bytes([0x40]) + string("x-huff", True) + string("value", True),
        ),
        (
            "a string literal without Huffman coding is decoded",
            bytes([0x00]) + string("x-plain") + string("value"),
        ),
    ],
    start=1,
):

    @h2spec(f"generic 5.{n}", sentence)
    def _(w: Wire, field: bytes = field) -> None:
        block_request(w, STATIC_GET + AUTHORITY + field)
        ok(w)


@h2spec("generic 5.10", "a dynamic table size update at the start of a block is applied")
def _(w: Wire) -> None:
    block_request(w, integer(0, 5, 0x20) + STATIC_GET + AUTHORITY)
    ok(w)


# -- http2: RFC 9113 ----------------------------------------------------------------------------


@h2spec("http2 3.5.1", "the client's preface is answered with the server's SETTINGS")
def _(w: Wire) -> None:
    assert w.server_settings[3] == 100  # SETTINGS_MAX_CONCURRENT_STREAMS, Envoy's edge default


def bad_preface(w: Wire) -> None:
    w.send(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"[:-2] + b"XX" + F.SettingsFrame(0).serialize())
    for frame in w.frames():
        assert not isinstance(frame, F.GoAwayFrame) or frame.error_code == PROTOCOL_ERROR


@h2spec("http2 3.5.2", "a broken connection preface ends the connection")
def _(w: Wire) -> None:
    pass  # run without a handshake: see test_h2spec


@h2spec("http2 4.1.1", "a frame of an unknown type is ignored")
def _(w: Wire) -> None:
    w.send(raw(0x16, 0, 0, b"\0" * 8))
    w.alive()


@h2spec("http2 4.1.2", "undefined flags on a frame are ignored")
def _(w: Wire) -> None:
    w.send(raw(PING, 0x16, 0, b"flagsxx!"))
    for frame in w.frames():
        if isinstance(frame, F.PingFrame):
            assert "ACK" in frame.flags and frame.opaque_data == b"flagsxx!"
            break


@h2spec("http2 4.1.3", "the reserved bit of a frame's stream id is ignored")
def _(w: Wire) -> None:
    w.send(raw(HEADERS, END_STREAM | END_HEADERS, 0x80000001, w.block(REQUEST)))
    ok(w)


@h2spec("http2 4.2.1", "a DATA frame of 2^14 octets is accepted")
def _(w: Wire) -> None:
    w.send(w.headers(1, POST, end_stream=False), F.DataFrame(1, b"x" * 16384, flags=["END_STREAM"]))
    assert ok(w) == b"16384 bytes"


@h2spec("http2 4.2.2", "a DATA frame over SETTINGS_MAX_FRAME_SIZE is a FRAME_SIZE_ERROR")
def _(w: Wire) -> None:
    w.send(w.headers(1, POST, end_stream=False), raw(DATA, END_STREAM, 1, b"x" * 16385))
    w.stream_error(1, FRAME_SIZE_ERROR)


@h2spec("http2 4.2.3", "a HEADERS frame over SETTINGS_MAX_FRAME_SIZE is a FRAME_SIZE_ERROR")
def _(w: Wire) -> None:
    block = w.block([*REQUEST, ("x-big", "x" * 30000)])  # over 2^14 octets, Huffman-coded
    w.send(raw(HEADERS, END_STREAM | END_HEADERS, 1, block))
    w.goaway(FRAME_SIZE_ERROR)


@h2spec("http2 4.3.1", "an undecodable header block is a COMPRESSION_ERROR")
def _(w: Wire) -> None:
    block_request(w, STATIC_GET + bytes([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]))
    w.goaway(COMPRESSION_ERROR)


@h2spec("http2 4.3.2", "a PRIORITY between HEADERS and CONTINUATION is a PROTOCOL_ERROR")
def _(w: Wire) -> None:
    block = w.block(REQUEST)
    w.send(raw(HEADERS, END_STREAM, 1, block[:3]), raw(PRIORITY, 0, 1, priority()))
    w.send(raw(CONTINUATION, END_HEADERS, 1, block[3:]))
    w.goaway(PROTOCOL_ERROR)


@h2spec("http2 4.3.3", "a header block split across streams is a PROTOCOL_ERROR")
def _(w: Wire) -> None:
    block = w.block(REQUEST)
    w.send(raw(HEADERS, END_STREAM, 1, block[:3]), raw(HEADERS, END_HEADERS, 3, block[3:]))
    w.goaway(PROTOCOL_ERROR)


# 5.1: stream states.
@h2spec("http2 5.1.1", "DATA on an idle stream is a PROTOCOL_ERROR")
def _(w: Wire) -> None:
    w.send(F.DataFrame(1, b"x", flags=["END_STREAM"]))
    w.goaway(PROTOCOL_ERROR)


@h2spec("http2 5.1.2", "RST_STREAM on an idle stream is a PROTOCOL_ERROR")
def _(w: Wire) -> None:
    w.send(F.RstStreamFrame(1, 8))
    w.goaway(PROTOCOL_ERROR)


@h2spec("http2 5.1.3", "WINDOW_UPDATE on an idle stream is a PROTOCOL_ERROR")
def _(w: Wire) -> None:
    w.send(F.WindowUpdateFrame(1, 100))
    w.goaway(PROTOCOL_ERROR)


@h2spec("http2 5.1.4", "CONTINUATION on an idle stream is a PROTOCOL_ERROR")
def _(w: Wire) -> None:
    w.send(raw(CONTINUATION, END_HEADERS, 1, w.block(REQUEST)))
    w.goaway(PROTOCOL_ERROR)


@h2spec("http2 5.1.5", "DATA on a half-closed (remote) stream is a STREAM_CLOSED error")
def _(w: Wire) -> None:
    w.send(w.headers(1, POST), F.DataFrame(1, b"x"))
    w.stream_error(1, STREAM_CLOSED)


@h2spec("http2 5.1.6", "HEADERS on a half-closed (remote) stream is a STREAM_CLOSED error")
def _(w: Wire) -> None:
    w.send(w.headers(1, POST), w.headers(1, POST))
    w.stream_error(1, STREAM_CLOSED)


@h2spec("http2 5.1.7", "CONTINUATION on a half-closed (remote) stream is a connection error")
def _(w: Wire) -> None:
    w.send(w.headers(1), raw(CONTINUATION, END_HEADERS, 1, w.block([("x-a", "b")])))
    w.goaway(STREAM_CLOSED, PROTOCOL_ERROR)


# nghttp2 keeps no state for a closed stream: a frame on one is dropped, and the connection
# goes on (RFC 9113 s5.1 asks for STREAM_CLOSED; h2spec's 5.1.8, 5.1.9, 5.1.11 and 5.1.12
# fail against nghttpd the same way). What matters at the edge holds: nothing reaches the
# pipeline for it, and the DATA still counts against the connection's window.
@h2spec("http2 5.1.8", "DATA after a RST_STREAM on that stream is dropped")
def _(w: Wire) -> None:
    w.send(w.headers(1, POST, end_stream=False), F.RstStreamFrame(1, 8))
    w.send(F.DataFrame(1, b"x", flags=["END_STREAM"]))
    w.alive()


@h2spec("http2 5.1.9", "HEADERS after a RST_STREAM on that stream are dropped")
def _(w: Wire) -> None:
    w.send(w.headers(1, POST, end_stream=False), F.RstStreamFrame(1, 8), w.headers(1))
    w.alive()


@h2spec("http2 5.1.10", "CONTINUATION after a RST_STREAM is a connection error")
def _(w: Wire) -> None:
    w.send(w.headers(1, POST, end_stream=False), F.RstStreamFrame(1, 8))
    w.send(raw(CONTINUATION, END_HEADERS, 1, w.block([("x-a", "b")])))
    w.goaway(STREAM_CLOSED, PROTOCOL_ERROR)


@h2spec("http2 5.1.11", "DATA on a stream closed by END_STREAM is dropped")
def _(w: Wire) -> None:
    w.send(w.headers(1))
    ok(w)
    w.send(F.DataFrame(1, b"x", flags=["END_STREAM"]))
    w.alive()


@h2spec("http2 5.1.12", "HEADERS on a stream closed by END_STREAM are not answered again")
def _(w: Wire) -> None:
    w.send(w.headers(1))
    ok(w)
    w.send(w.headers(1))
    w.alive()


@h2spec("http2 5.1.13", "CONTINUATION on a stream closed by END_STREAM is a connection error")
def _(w: Wire) -> None:
    w.send(w.headers(1))
    ok(w)
    w.send(raw(CONTINUATION, END_HEADERS, 1, w.block([("x-a", "b")])))
    w.goaway(STREAM_CLOSED, PROTOCOL_ERROR)


@h2spec("http2 5.1.1.1", "an even-numbered stream id from a client is a PROTOCOL_ERROR")
def _(w: Wire) -> None:
    w.send(w.headers(2))
    w.goaway(PROTOCOL_ERROR)


@h2spec("http2 5.1.1.2", "a stream id below one already used is never answered")
def _(w: Wire) -> None:
    w.send(w.headers(5))
    ok(w, 5)
    w.send(w.headers(3))  # an implicitly closed stream to nghttp2 (see 5.1.8): dropped
    w.alive()


@h2spec("http2 5.1.2.1", "streams over SETTINGS_MAX_CONCURRENT_STREAMS are refused")
def _(w: Wire) -> None:
    opened = [w.headers(2 * n + 1, POST, end_stream=False) for n in range(101)]
    w.send(*opened)
    w.stream_error(201, REFUSED_STREAM, PROTOCOL_ERROR)


@h2spec("http2 5.3.1.1", "HEADERS depending on its own stream is a PROTOCOL_ERROR")
def _(w: Wire) -> None:
    block = w.block(REQUEST)
    w.send(raw(HEADERS, END_STREAM | END_HEADERS | PRIORITY_FLAG, 1, priority(1) + block))
    w.stream_error(1, PROTOCOL_ERROR)


# RFC 9113 deprecates RFC 7540's priorities and nghttp2 (since 1.61) no longer parses the
# PRIORITY frame: each one is skipped whole, whatever it holds (h2spec's 5.3.1.2 and 6.3.1).
@h2spec("http2 5.3.1.2", "a PRIORITY frame depending on its own stream is skipped")
def _(w: Wire) -> None:
    w.send(raw(PRIORITY, 0, 1, priority(1)))
    w.alive()


@h2spec("http2 5.4.1.1", "a malformed frame ends the connection with a GOAWAY")
def _(w: Wire) -> None:
    w.send(raw(PING, 0, 0, b"short"))
    w.goaway(FRAME_SIZE_ERROR)


@h2spec("http2 5.4.1.2", "after a connection error the server closes the connection")
def _(w: Wire) -> None:
    w.send(raw(DATA, 0, 0, b"x"))
    w.goaway(PROTOCOL_ERROR)
    assert w.read() is None


@h2spec("http2 5.5.1", "an extension frame is ignored")
def _(w: Wire) -> None:
    w.send(raw(0xFF, 0, 0, b"extension"))
    w.alive()


@h2spec("http2 5.5.2", "an extension frame inside a header block is a PROTOCOL_ERROR")
def _(w: Wire) -> None:
    block = w.block(REQUEST)
    w.send(raw(HEADERS, END_STREAM, 1, block[:3]), raw(0xFF, 0, 0, b"extension"))
    w.send(raw(CONTINUATION, END_HEADERS, 1, block[3:]))
    w.goaway(PROTOCOL_ERROR)


# 6: frame definitions.
@h2spec("http2 6.1.1", "DATA on stream 0 is a PROTOCOL_ERROR")
def _(w: Wire) -> None:
    w.send(raw(DATA, END_STREAM, 0, b"x"))
    w.goaway(PROTOCOL_ERROR)


@h2spec("http2 6.1.2", "DATA on a stream not open is a STREAM_CLOSED error")
def _(w: Wire) -> None:
    w.send(w.headers(1), F.DataFrame(1, b"x", flags=["END_STREAM"]))
    w.stream_error(1, STREAM_CLOSED)


@h2spec("http2 6.1.3", "DATA whose padding is as long as the frame is a PROTOCOL_ERROR")
def _(w: Wire) -> None:
    w.send(w.headers(1, POST, end_stream=False))
    w.send(raw(DATA, END_STREAM | PADDED, 1, bytes([6]) + b"xxxxx"))
    w.goaway(PROTOCOL_ERROR)


@h2spec("http2 6.2.1", "HEADERS without END_HEADERS then another frame is a PROTOCOL_ERROR")
def _(w: Wire) -> None:
    w.send(raw(HEADERS, END_STREAM, 1, w.block(REQUEST)), F.DataFrame(1, b"x"))
    w.goaway(PROTOCOL_ERROR)


@h2spec("http2 6.2.2", "HEADERS then CONTINUATION on another stream is a PROTOCOL_ERROR")
def _(w: Wire) -> None:
    block = w.block(REQUEST)
    w.send(raw(HEADERS, END_STREAM, 1, block[:3]), raw(CONTINUATION, END_HEADERS, 3, block[3:]))
    w.goaway(PROTOCOL_ERROR)


@h2spec("http2 6.2.3", "HEADERS on stream 0 is a PROTOCOL_ERROR")
def _(w: Wire) -> None:
    w.send(raw(HEADERS, END_STREAM | END_HEADERS, 0, w.block(REQUEST)))
    w.goaway(PROTOCOL_ERROR)


@h2spec("http2 6.2.4", "HEADERS whose padding is as long as the frame is a PROTOCOL_ERROR")
def _(w: Wire) -> None:
    block = w.block(REQUEST)
    w.send(raw(HEADERS, END_STREAM | END_HEADERS | PADDED, 1, bytes([len(block) + 1]) + block))
    w.goaway(PROTOCOL_ERROR)


@h2spec("http2 6.3.1", "a PRIORITY frame on stream 0 is skipped")
def _(w: Wire) -> None:
    w.send(raw(PRIORITY, 0, 0, priority()))
    w.alive()


@h2spec("http2 6.3.2", "PRIORITY of a length other than 5 is a FRAME_SIZE_ERROR")
def _(w: Wire) -> None:
    w.send(raw(PRIORITY, 0, 1, priority() + b"\0"))
    w.stream_error(1, FRAME_SIZE_ERROR)


@h2spec("http2 6.4.1", "RST_STREAM on stream 0 is a PROTOCOL_ERROR")
def _(w: Wire) -> None:
    w.send(raw(RST_STREAM, 0, 0, u32(8)))
    w.goaway(PROTOCOL_ERROR)


@h2spec("http2 6.4.2", "RST_STREAM on an idle stream is a PROTOCOL_ERROR")
def _(w: Wire) -> None:
    w.send(raw(RST_STREAM, 0, 3, u32(8)))
    w.goaway(PROTOCOL_ERROR)


@h2spec("http2 6.4.3", "RST_STREAM of a length other than 4 is a FRAME_SIZE_ERROR")
def _(w: Wire) -> None:
    w.send(w.headers(1, POST, end_stream=False), raw(RST_STREAM, 0, 1, u32(8) + b"\0"))
    w.goaway(FRAME_SIZE_ERROR)


@h2spec("http2 6.5.1", "SETTINGS with ACK and a payload is a FRAME_SIZE_ERROR")
def _(w: Wire) -> None:
    w.send(raw(SETTINGS, ACK, 0, setting(1, 4096)))
    w.goaway(FRAME_SIZE_ERROR)


@h2spec("http2 6.5.2", "SETTINGS on a stream other than 0 is a PROTOCOL_ERROR")
def _(w: Wire) -> None:
    w.send(raw(SETTINGS, 0, 1, setting(1, 4096)))
    w.goaway(PROTOCOL_ERROR)


@h2spec("http2 6.5.3", "SETTINGS of a length not a multiple of 6 is a FRAME_SIZE_ERROR")
def _(w: Wire) -> None:
    w.send(raw(SETTINGS, 0, 0, setting(1, 4096)[:5]))
    w.goaway(FRAME_SIZE_ERROR)


@h2spec("http2 6.5.2.1", "SETTINGS_ENABLE_PUSH other than 0 or 1 is a PROTOCOL_ERROR")
def _(w: Wire) -> None:
    w.send(raw(SETTINGS, 0, 0, setting(2, 2)))
    w.goaway(PROTOCOL_ERROR)


@h2spec("http2 6.5.2.2", "SETTINGS_INITIAL_WINDOW_SIZE over 2^31-1 is a FLOW_CONTROL_ERROR")
def _(w: Wire) -> None:
    w.send(raw(SETTINGS, 0, 0, setting(4, 2**31)))
    w.goaway(FLOW_CONTROL_ERROR)


@h2spec("http2 6.5.2.3", "SETTINGS_MAX_FRAME_SIZE under 2^14 is a PROTOCOL_ERROR")
def _(w: Wire) -> None:
    w.send(raw(SETTINGS, 0, 0, setting(5, 16383)))
    w.goaway(PROTOCOL_ERROR)


@h2spec("http2 6.5.2.4", "SETTINGS_MAX_FRAME_SIZE over 2^24-1 is a PROTOCOL_ERROR")
def _(w: Wire) -> None:
    w.send(raw(SETTINGS, 0, 0, setting(5, 2**24)))
    w.goaway(PROTOCOL_ERROR)


@h2spec("http2 6.5.2.5", "a SETTINGS parameter of an unknown identifier is ignored")
def _(w: Wire) -> None:
    w.send(raw(SETTINGS, 0, 0, setting(0xFF, 1)))
    w.alive()


@h2spec("http2 6.5.3.1", "of a parameter given twice in one SETTINGS the last value counts")
def _(w: Wire) -> None:
    w.send(raw(SETTINGS, 0, 0, setting(4, 100) + setting(4, 1)), w.headers(1))
    for frame in w.frames():
        if isinstance(frame, F.DataFrame):
            assert len(frame.data) == 1  # a window of 1 octet, the last value
            break


@h2spec("http2 6.5.3.2", "a SETTINGS frame is acknowledged")
def _(w: Wire) -> None:
    w.send(F.SettingsFrame(0, settings={3: 50}))
    for frame in w.frames():
        if isinstance(frame, F.SettingsFrame):
            assert "ACK" in frame.flags
            return
    raise AssertionError("no SETTINGS acknowledgement")


@h2spec("http2 6.7.1", "a PING is answered with an acknowledgement of the same payload")
def _(w: Wire) -> None:
    w.alive(b"h2spec!!")


@h2spec("http2 6.7.2", "a PING acknowledgement gets no answer")
def _(w: Wire) -> None:
    w.send(raw(PING, ACK, 0, b"unasked!"))
    w.alive(b"asked!!!")  # the first PING seen back is the one asked for


@h2spec("http2 6.7.3", "PING on a stream other than 0 is a PROTOCOL_ERROR")
def _(w: Wire) -> None:
    w.send(raw(PING, 0, 1, b"streamed"))
    w.goaway(PROTOCOL_ERROR)


@h2spec("http2 6.7.4", "PING of a length other than 8 is a FRAME_SIZE_ERROR")
def _(w: Wire) -> None:
    w.send(raw(PING, 0, 0, b"nine byte"))
    w.goaway(FRAME_SIZE_ERROR)


@h2spec("http2 6.8.1", "GOAWAY on a stream other than 0 is a PROTOCOL_ERROR")
def _(w: Wire) -> None:
    w.send(raw(GOAWAY, 0, 1, u32(0) + u32(0)))
    w.goaway(PROTOCOL_ERROR)


@h2spec("http2 6.9.1", "a WINDOW_UPDATE of 0 on the connection is a PROTOCOL_ERROR")
def _(w: Wire) -> None:
    w.send(raw(WINDOW_UPDATE, 0, 0, u32(0)))
    w.goaway(PROTOCOL_ERROR)


@h2spec("http2 6.9.2", "a WINDOW_UPDATE of 0 on a stream is a PROTOCOL_ERROR")
def _(w: Wire) -> None:
    w.send(w.headers(1, POST, end_stream=False), raw(WINDOW_UPDATE, 0, 1, u32(0)))
    w.stream_error(1, PROTOCOL_ERROR)


@h2spec("http2 6.9.3", "a WINDOW_UPDATE of a length other than 4 is a FRAME_SIZE_ERROR")
def _(w: Wire) -> None:
    w.send(raw(WINDOW_UPDATE, 0, 0, u32(1) + b"\0"))
    w.goaway(FRAME_SIZE_ERROR)


@h2spec("http2 6.9.1.1", "with an initial window of 1 the answer comes 1 octet at a time")
def _(w: Wire) -> None:
    w.send(F.SettingsFrame(0, settings={4: 1}), w.headers(1))
    for frame in w.frames():
        if isinstance(frame, F.DataFrame):
            assert len(frame.data) == 1
            break


@h2spec("http2 6.9.1.2", "a connection window over 2^31-1 is a FLOW_CONTROL_ERROR")
def _(w: Wire) -> None:
    w.send(F.WindowUpdateFrame(0, 2**31 - 1), F.WindowUpdateFrame(0, 2**31 - 1))
    w.goaway(FLOW_CONTROL_ERROR)


@h2spec("http2 6.9.1.3", "a stream window over 2^31-1 is a FLOW_CONTROL_ERROR")
def _(w: Wire) -> None:
    w.send(w.headers(1, POST, end_stream=False))
    w.send(F.WindowUpdateFrame(1, 2**31 - 1), F.WindowUpdateFrame(1, 2**31 - 1))
    w.stream_error(1, FLOW_CONTROL_ERROR)


@h2spec("http2 6.9.2.1", "a larger initial window lets a blocked answer go on")
def _(w: Wire) -> None:
    w.send(F.SettingsFrame(0, settings={4: 0}), w.headers(1))
    w.send(F.SettingsFrame(0, settings={4: 100_000}))
    headers, body = w.response(1)
    assert headers[":status"] == "200" and body == b"answer to /"


@h2spec("http2 6.9.2.2", "a negative stream window after SETTINGS holds the answer back")
def _(w: Wire) -> None:
    w.send(
        F.SettingsFrame(0, settings={4: 5}),
        w.headers(1, [*REQUEST[:2], (":path", "/big"), REQUEST[3]]),
    )
    for frame in w.frames():
        if isinstance(frame, F.DataFrame):
            assert len(frame.data) == 5
            break
    w.send(F.SettingsFrame(0, settings={4: 0}))  # the window is now -5
    w.send(F.WindowUpdateFrame(1, 5))  # back to 0: still nothing may come
    w.alive()
    w.send(F.WindowUpdateFrame(1, 100_000), F.WindowUpdateFrame(0, 200_000))
    for frame in w.frames():
        if isinstance(frame, F.DataFrame):
            assert frame.data
            break


@h2spec("http2 6.9.2.3", "SETTINGS_INITIAL_WINDOW_SIZE over the maximum is a FLOW_CONTROL_ERROR")
def _(w: Wire) -> None:
    w.send(raw(SETTINGS, 0, 0, setting(4, 2**31)))
    w.goaway(FLOW_CONTROL_ERROR)


@h2spec("http2 6.10.1", "several CONTINUATION frames after a HEADERS are accepted")
def _(w: Wire) -> None:
    block = w.block([*REQUEST, ("x-a", "1"), ("x-b", "2")])
    w.send(raw(HEADERS, END_STREAM, 1, block[:2]), raw(CONTINUATION, 0, 1, block[2:6]))
    w.send(raw(CONTINUATION, END_HEADERS, 1, block[6:]))
    ok(w)


@h2spec("http2 6.10.2", "a CONTINUATION then a frame other than CONTINUATION is an error")
def _(w: Wire) -> None:
    block = w.block(REQUEST)
    w.send(raw(HEADERS, END_STREAM, 1, block[:2]), raw(CONTINUATION, 0, 1, block[2:4]))
    w.send(F.DataFrame(1, b"x"))
    w.goaway(PROTOCOL_ERROR)


@h2spec("http2 6.10.3", "CONTINUATION on stream 0 is a PROTOCOL_ERROR")
def _(w: Wire) -> None:
    block = w.block(REQUEST)
    w.send(raw(HEADERS, END_STREAM, 1, block[:2]), raw(CONTINUATION, END_HEADERS, 0, block[2:]))
    w.goaway(PROTOCOL_ERROR)


@h2spec("http2 6.10.4", "CONTINUATION after a HEADERS with END_HEADERS is a PROTOCOL_ERROR")
def _(w: Wire) -> None:
    w.send(w.headers(1), raw(CONTINUATION, END_HEADERS, 1, w.block([("x-a", "b")])))
    w.goaway(PROTOCOL_ERROR, STREAM_CLOSED)


@h2spec("http2 6.10.5", "CONTINUATION after one with END_HEADERS is a PROTOCOL_ERROR")
def _(w: Wire) -> None:
    block = w.block(REQUEST)
    w.send(raw(HEADERS, END_STREAM, 1, block[:2]), raw(CONTINUATION, END_HEADERS, 1, block[2:]))
    w.send(raw(CONTINUATION, END_HEADERS, 1, w.block([("x-a", "b")])))
    w.goaway(PROTOCOL_ERROR, STREAM_CLOSED)


@h2spec("http2 6.10.6", "CONTINUATION after DATA is a PROTOCOL_ERROR")
def _(w: Wire) -> None:
    w.send(w.headers(1, POST, end_stream=False), F.DataFrame(1, b"x"))
    w.send(raw(CONTINUATION, END_HEADERS, 1, w.block([("x-a", "b")])))
    w.goaway(PROTOCOL_ERROR)


@h2spec("http2 7.1", "a GOAWAY with an unknown error code is not treated as special")
def _(w: Wire) -> None:
    w.send(raw(GOAWAY, 0, 0, u32(0) + u32(0xFF)))
    for frame in w.frames():
        assert not isinstance(frame, F.GoAwayFrame) or frame.error_code == 0


@h2spec("http2 7.2", "a RST_STREAM with an unknown error code is not treated as special")
def _(w: Wire) -> None:
    w.send(w.headers(1, POST, end_stream=False), raw(RST_STREAM, 0, 1, u32(0xFF)))
    w.alive()


# 8: HTTP semantics.
@h2spec("http2 8.1.1", "a second HEADERS without END_STREAM is a PROTOCOL_ERROR")
def _(w: Wire) -> None:
    w.send(w.headers(1, POST, end_stream=False), F.DataFrame(1, b"x"))
    w.send(w.headers(1, [("x-trailer", "t")], end_stream=False))
    w.stream_error(1, PROTOCOL_ERROR)


def malformed(headers: list[tuple[str, str]]) -> Case:
    def case(w: Wire) -> None:
        w.send(w.headers(1, headers))
        w.stream_error(1, PROTOCOL_ERROR)

    return case


MALFORMED = {
    "8.1.2.1": ("a field name in upper case", [*REQUEST, ("X-Upper", "a")]),
    "8.1.2.1.1": ("an unknown pseudo-header", [*REQUEST, (":unknown", "a")]),
    "8.1.2.1.2": ("a response pseudo-header in a request", [*REQUEST, (":status", "200")]),
    "8.1.2.1.4": (
        "a pseudo-header after a regular field",
        [*REQUEST[:3], ("x-a", "b"), REQUEST[3]],
    ),
    "8.1.2.2.1": ("a connection-specific field", [*REQUEST, ("connection", "keep-alive")]),
    "8.1.2.2.2": ("a TE field other than trailers", [*REQUEST, ("te", "gzip")]),
    "8.1.2.3.1": ("an empty :path", [*REQUEST[:2], (":path", ""), REQUEST[3]]),
    "8.1.2.3.2": ("no :method", REQUEST[1:]),
    "8.1.2.3.3": ("no :scheme", [REQUEST[0], *REQUEST[2:]]),
    "8.1.2.3.4": ("no :path", [*REQUEST[:2], REQUEST[3]]),
    "8.1.2.3.5": ("a :method twice", [REQUEST[0], *REQUEST]),
    "8.1.2.3.6": ("a :scheme twice", [REQUEST[1], *REQUEST]),
    "8.1.2.3.7": ("a :path twice", [REQUEST[2], *REQUEST]),
    "8.1.2.x.1": ("a field value with a line feed", [*REQUEST, ("x-a", "a\nb")]),
    "8.1.2.x.2": ("a field name with a space", [*REQUEST, ("x a", "b")]),
    "8.1.2.x.3": ("a CONNECT without :authority", [(":method", "CONNECT")]),
}
for section, (what, fields) in MALFORMED.items():
    h2spec(f"http2 {section}", f"a request with {what} is a PROTOCOL_ERROR")(malformed(fields))


@h2spec("http2 8.1.2.1.3", "a pseudo-header in trailers is a PROTOCOL_ERROR")
def _(w: Wire) -> None:
    w.send(w.headers(1, POST, end_stream=False), F.DataFrame(1, b"x"))
    w.send(w.headers(1, [(":method", "POST")], end_stream=True))
    w.stream_error(1, PROTOCOL_ERROR)


@h2spec("http2 8.1.2.6.1", "a body shorter than its content-length is a PROTOCOL_ERROR")
def _(w: Wire) -> None:
    w.send(w.headers(1, [*POST, ("content-length", "10")], end_stream=False))
    w.send(F.DataFrame(1, b"x" * 5, flags=["END_STREAM"]))
    w.stream_error(1, PROTOCOL_ERROR)


@h2spec("http2 8.1.2.6.2", "a body in frames longer than its content-length is a PROTOCOL_ERROR")
def _(w: Wire) -> None:
    w.send(w.headers(1, [*POST, ("content-length", "4")], end_stream=False))
    w.send(F.DataFrame(1, b"x" * 3), F.DataFrame(1, b"x" * 3, flags=["END_STREAM"]))
    w.stream_error(1, PROTOCOL_ERROR)


@h2spec("http2 8.2.1", "a PUSH_PROMISE from a client is a PROTOCOL_ERROR")
def _(w: Wire) -> None:
    w.send(w.headers(1, POST, end_stream=False))
    w.send(raw(PUSH_PROMISE, END_HEADERS, 1, u32(2) + w.block(REQUEST)))
    w.goaway(PROTOCOL_ERROR)


# -- hpack: RFC 7541 ----------------------------------------------------------------------------

HPACK_ERRORS = {
    "2.3.3.1": ("an indexed field past both tables", integer(70, 7, 0x80)),
    "2.3.3.2": (
        "a literal field whose indexed name is past both tables",
        integer(70, 6, 0x40) + string("v"),
    ),
    "4.2.1": ("a table size update at the end of a block", AUTHORITY + integer(0, 5, 0x20)),
    "5.2.1": (
        "a Huffman string holding the EOS symbol",
        bytes([0x40, 0x84, 0xFF, 0xFF, 0xFF, 0xFF]) + string("v"),
    ),
    "5.2.2": (
        "Huffman padding longer than 7 bits",
        bytes([0x40, 0x82, 0xF7, 0xFF]) + string("v"),
    ),  # "x" then 9 one-bits
    "5.2.3": ("Huffman padding not made of EOS bits", bytes([0x40, 0x81, 0xF0]) + string("v")),
    "6.1.1": ("an indexed field of index 0", bytes([0x80])),
    "6.3.1": ("a table size update over the limit", integer(8192, 5, 0x20)),
}
for section, (what, field) in HPACK_ERRORS.items():

    @h2spec(f"hpack {section}", f"{what} is a COMPRESSION_ERROR")
    def _(w: Wire, field: bytes = field, section: str = section) -> None:
        start = field if section in ("6.3.1",) else STATIC_GET + field
        block_request(w, start + (AUTHORITY if section not in ("4.2.1",) else b""))
        w.goaway(COMPRESSION_ERROR)


@h2spec("hpack 2.3.2", "a field indexed in the dynamic table is decoded in the next block")
def _(w: Wire) -> None:
    first = STATIC_GET + AUTHORITY + bytes([0x40]) + string("x-kept") + string("1")
    block_request(w, first, 1)
    ok(w, 1)
    block_request(w, STATIC_GET + bytes([0xBF, 0xBE]), 3)  # indexes 63 and 62 (dynamic)
    ok(w, 3)


# -- the suite ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(CASES), ids=list(CASES))
def test_h2spec(served: Served, name: str) -> None:
    if name.startswith("http2 3.5.2:"):
        with Wire(served.port, handshake=False) as wire:
            bad_preface(wire)
        return
    with Wire(served.port) as wire:
        CASES[name](wire)


def test_the_suite_holds_about_ninety_cases() -> None:
    assert len(CASES) >= 90


def test_a_malformed_request_never_reaches_the_pipeline(served: Served) -> None:
    before = len(served.requests)
    with Wire(served.port) as wire:
        malformed([*REQUEST, ("connection", "close")])(wire)
        wire.alive()
    assert len(served.requests) == before


def test_the_worker_serves_other_connections_after_a_connection_error(served: Served) -> None:
    with Wire(served.port) as broken, Wire(served.port) as other:
        broken.send(raw(DATA, 0, 0, b"x"))
        broken.goaway(PROTOCOL_ERROR)
        other.send(other.headers(1))
        ok(other)


def test_a_preface_split_across_reads_is_still_http2(served: Served) -> None:
    with Wire(served.port, handshake=False) as wire:
        wire.send(PREFACE[:5])
        wire.send(PREFACE[5:], F.SettingsFrame(0), wire.headers(1))
        ok(wire)
