"""What the HTTP/2 tests share: tailor's server on its own thread and event loop (uvloop, as in
a worker), and a frame-level client on a blocking socket that writes frames as crafted (with
hyperframe and hpack, or byte by byte when a frame must be malformed) and reads the server's.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import struct
import threading
from collections.abc import Awaitable, Iterable, Iterator
from contextlib import contextmanager

import hpack
import uvloop
from hyperframe import frame as F

from tailor.http import Request, Response
from tailor.serve.http1 import Handle, Http1Server, ServerSettings

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#: How long the client waits for anything the server should do at once.
TIMEOUT_S = 3.0
# Error codes (RFC 9113 s7).
NO_ERROR, PROTOCOL_ERROR, INTERNAL_ERROR, FLOW_CONTROL_ERROR = 0x0, 0x1, 0x2, 0x3
STREAM_CLOSED, FRAME_SIZE_ERROR, REFUSED_STREAM, CANCEL = 0x5, 0x6, 0x7, 0x8
COMPRESSION_ERROR, ENHANCE_YOUR_CALM = 0x9, 0xB
# Frame types.
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE = 0x0, 0x1, 0x2, 0x3, 0x4, 0x5
PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = 0x6, 0x7, 0x8, 0x9
END_STREAM, ACK, END_HEADERS, PADDED, PRIORITY_FLAG = 0x1, 0x1, 0x4, 0x8, 0x20

REQUEST = [(":method", "GET"), (":scheme", "http"), (":path", "/"), (":authority", "test")]


class Served:
    """A server on a thread of its own, answering with ``handle``; ``requests`` counts what
    reached the pipeline."""

    def __init__(self, handle: Handle, settings: ServerSettings) -> None:
        self.loop = uvloop.new_event_loop()
        self.requests: list[Request] = []

        def counted(request: Request) -> object:
            self.requests.append(request)
            return handle(request)

        self.server = Http1Server(counted, settings)  # type: ignore[arg-type]
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self.call(self.server.start(host="127.0.0.1", port=0))
        self.port = self.server.port

    def call(self, coroutine: object, timeout: float = TIMEOUT_S) -> object:
        future = asyncio.run_coroutine_threadsafe(coroutine, self.loop)  # type: ignore[arg-type]
        return future.result(timeout)

    def close(self, grace_s: float = 0.5) -> None:
        self.call(self.server.close(grace_s), timeout=grace_s + TIMEOUT_S)
        self.stop()

    def stop(self) -> None:
        """End the loop (the server closed already)."""
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(TIMEOUT_S)
        self.loop.close()


@contextmanager
def serving(handle: Handle, **settings: object) -> Iterator[Served]:
    served = Served(handle, ServerSettings(http2=True, **settings))  # type: ignore[arg-type]
    try:
        yield served
    finally:
        served.close()


def raw(kind: int, flags: int, stream: int, payload: bytes = b"") -> bytes:
    """A frame written byte for byte: any length, type, flags and stream, valid or not."""
    return (
        struct.pack(">I", len(payload))[1:]
        + bytes([kind, flags])
        + struct.pack(">I", stream)
        + payload
    )


class Wire:
    """One HTTP/2 connection, frame by frame."""

    def __init__(
        self,
        port: int,
        *,
        settings: dict[int, int] | None = None,
        handshake: bool = True,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_S)
        if tls is not None:
            sock = tls.wrap_socket(sock, server_hostname="localhost")
        self.sock = sock
        self.buffer = b""
        self.encoder = hpack.Encoder()
        self.decoder = hpack.Decoder()
        self.server_settings: dict[int, int] = {}
        self.connection_window = 65535  # the server's, for what the client sends
        if handshake:
            self.handshake(settings or {})

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Wire:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, *frames: F.Frame | bytes) -> None:
        self.sock.sendall(b"".join(f if isinstance(f, bytes) else f.serialize() for f in frames))

    def handshake(self, settings: dict[int, int]) -> None:
        """The preface both ways: ours, the server's SETTINGS (acknowledged), our SETTINGS'
        acknowledgement."""
        self.send(PREFACE, F.SettingsFrame(0, settings=settings))
        got_settings = got_ack = False
        while not (got_settings and got_ack):
            frame = self.read()
            assert frame is not None, "the server closed during the handshake"
            if isinstance(frame, F.WindowUpdateFrame) and frame.stream_id == 0:
                self.connection_window += frame.window_increment
            if isinstance(frame, F.SettingsFrame):
                if "ACK" in frame.flags:
                    got_ack = True
                else:
                    got_settings = True
                    self.server_settings.update(frame.settings)
                    self.send(F.SettingsFrame(0, flags=["ACK"]))

    # -- building ----------------------------------------------------------------------------

    def block(self, headers: Iterable[tuple[str, str]]) -> bytes:
        return bytes(self.encoder.encode(list(headers)))

    def headers(
        self,
        stream: int,
        headers: Iterable[tuple[str, str]] = REQUEST,
        *,
        end_stream: bool = True,
        end_headers: bool = True,
    ) -> F.HeadersFrame:
        frame = F.HeadersFrame(stream, self.block(headers))
        if end_stream:
            frame.flags.add("END_STREAM")
        if end_headers:
            frame.flags.add("END_HEADERS")
        return frame

    # -- reading -----------------------------------------------------------------------------

    def _recv(self, size: int) -> bool:
        while len(self.buffer) < size:
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                return False
            if not chunk:
                return False
            self.buffer += chunk
        return True

    def read(self) -> F.Frame | None:
        """The next frame from the server; None once it closed. A timeout fails the test."""
        if not self._recv(9):
            return None
        frame, length = F.Frame.parse_frame_header(memoryview(self.buffer[:9]))
        if not self._recv(9 + length):
            return None
        frame.parse_body(memoryview(self.buffer[9 : 9 + length]))
        self.buffer = self.buffer[9 + length :]
        if isinstance(frame, F.HeadersFrame | F.ContinuationFrame):
            frame.decoded = self.decoder.decode(frame.data, raw=False)  # type: ignore[attr-defined]
        return frame

    def frames(self) -> Iterator[F.Frame]:
        while (frame := self.read()) is not None:
            yield frame

    # -- expecting ---------------------------------------------------------------------------

    def goaway(self, *codes: int) -> F.GoAwayFrame:
        """The server ends the connection with GOAWAY and one of ``codes``, then closes."""
        for frame in self.frames():
            if isinstance(frame, F.GoAwayFrame):
                assert frame.error_code in codes, f"GOAWAY {frame.error_code}, wanted {codes}"
                assert self.read() is None or True  # whatever follows, the connection ends
                return frame
        raise AssertionError(f"closed without a GOAWAY (wanted one of {codes})")

    def stream_error(self, stream: int, *codes: int) -> None:
        """The server resets ``stream`` with one of ``codes`` (or, as h2spec accepts, ends the
        connection with one of them)."""
        for frame in self.frames():
            if isinstance(frame, F.RstStreamFrame) and frame.stream_id == stream:
                assert frame.error_code in codes, f"RST_STREAM {frame.error_code}, wanted {codes}"
                return
            if isinstance(frame, F.GoAwayFrame):
                assert frame.error_code in codes, f"GOAWAY {frame.error_code}, wanted {codes}"
                return
        raise AssertionError(f"closed without resetting stream {stream}")

    def alive(self, payload: bytes = b"tailor!!") -> None:
        """The connection still works: a PING is acknowledged with its payload, and nothing
        before that acknowledgement was a GOAWAY."""
        self.send(F.PingFrame(0, payload))
        for frame in self.frames():
            assert not isinstance(frame, F.GoAwayFrame), f"GOAWAY {frame.error_code}"
            if isinstance(frame, F.PingFrame) and "ACK" in frame.flags:
                assert frame.opaque_data == payload
                return
        raise AssertionError("closed instead of answering a PING")

    def response(self, stream: int) -> tuple[dict[str, str], bytes]:
        """Stream ``stream``'s answer: its header fields and its body, to the end."""
        return self.responses(stream)[stream]

    def responses(self, *streams: int) -> dict[int, tuple[dict[str, str], bytes]]:
        """The answers on ``streams``, in whatever order they come; their DATA is given back
        to the windows as it arrives."""
        headers: dict[int, dict[str, str]] = {stream: {} for stream in streams}
        bodies = dict.fromkeys(streams, b"")
        ended: set[int] = set()
        for frame in self.frames():
            stream = frame.stream_id
            if stream not in headers:
                assert not isinstance(frame, F.GoAwayFrame | F.RstStreamFrame), frame
                continue
            assert not isinstance(frame, F.RstStreamFrame), f"reset {frame.error_code}"
            if isinstance(frame, F.HeadersFrame | F.ContinuationFrame):
                headers[stream].update(frame.decoded)  # type: ignore[attr-defined]
            elif isinstance(frame, F.DataFrame):
                bodies[stream] += frame.data
                if frame.flow_controlled_length:
                    self.send(
                        F.WindowUpdateFrame(0, frame.flow_controlled_length),
                        F.WindowUpdateFrame(stream, frame.flow_controlled_length),
                    )
            if "END_STREAM" in frame.flags:
                ended.add(stream)
                if len(ended) == len(streams):
                    return {s: (headers[s], bodies[s]) for s in streams}
        raise AssertionError(f"closed before streams {set(streams) - ended} were answered")


def answer(request: Request) -> Response | Awaitable[Response]:
    """The test pipeline: a GET is answered at once (as a cache hit is), naming its path; a
    body is read to its end and its size answered; ``/big`` is 100 KB, more than a stream's
    first window."""
    if request.method == "POST":
        return _read(request)
    if request.path == "/big":
        return Response(200, b"b" * 100_000)
    return Response(200, b"answer to " + request.path.encode(), [("content-type", "text/plain")])


async def _read(request: Request) -> Response:
    size = 0
    async for chunk in request.read_body():
        size += len(chunk)
    return Response(200, f"{size} bytes".encode())
