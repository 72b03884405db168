"""The content codings: one encoder per coding and level, and bounded decoders.

``zstd`` is the standard library's ``compression.zstd`` (its backport, ``backports.zstd``,
before Python 3.14), ``br`` is Google's ``brotli`` binding (both from ``tailor[compression]``,
imported only when a config names them) and ``gzip`` is ``zlib``. Encoding is deterministic
(gzip writes no timestamp), so every instance turns the same body into the same bytes and
the same ETag.

A decoder never holds more than ``limit`` decoded bytes plus one step: each step asks its
library for at most :data:`STEP` bytes of output, so a zip bomb (a few KB that would expand
to gigabytes) is refused after ``limit`` bytes, never expanded in memory. A zstd frame may
ask for a window of at most 8 MiB (RFC 9659 s3), so the decoder's own memory is bounded too.

>>> from tailor.compression.codecs import decode, encoder
>>> body = b'{"tracks": []}' * 100
>>> decode("gzip", encoder("gzip", 6)(body), limit=4096) == body
True
>>> decode("gzip", encoder("gzip", 6)(body), limit=1000) is None  # over the limit
True
"""

from __future__ import annotations

import sys
import zlib
from collections.abc import Callable
from typing import Any, cast

from tailor.errors import TailorError

#: Output asked of a decoder per step.
STEP = 64 * 1024
#: The largest zstd window a request body may use (2**23 bytes, RFC 9659 s3).
ZSTD_WINDOW_LOG_MAX = 23
#: The module that provides zstd, for the startup check of tailor.extras.
ZSTD_MODULE = "compression.zstd" if sys.version_info >= (3, 14) else "backports.zstd"

Encoder = Callable[[bytes], bytes]


class MalformedBody(TailorError):
    """The body is not valid data in the coding its ``Content-Encoding`` names (cut short,
    or followed by other bytes): the compress stage answers 400."""


def _zstd() -> Any:
    if sys.version_info >= (3, 14):
        from compression import zstd
    else:
        from backports import zstd
    return zstd


def encoder(coding: str, level: int) -> Encoder:
    """A function compressing a whole body in ``coding`` at ``level`` (built once, at
    startup, and called per response)."""
    if coding == "gzip":
        return lambda body: zlib.compress(body, level, wbits=31)
    if coding == "zstd":
        zstd = _zstd()
        compressor = zstd.ZstdCompressor(level=level)
        flush = zstd.ZstdCompressor.FLUSH_FRAME
        return lambda body: cast(bytes, compressor.compress(body, flush))
    if coding == "br":
        import brotli

        return lambda body: cast(bytes, brotli.compress(body, quality=level))
    raise ValueError(f"unknown coding {coding!r}")


def decode(coding: str, body: bytes, *, limit: int) -> bytes | None:
    """``body`` decoded, or ``None`` as soon as it would be over ``limit`` bytes. Raises
    :class:`MalformedBody` for bytes that are not ``coding`` (or are cut short)."""
    if coding == "gzip":
        return _decode_gzip(body, limit)
    if coding == "zstd":
        return _decode_zstd(body, limit)
    if coding == "br":
        return _decode_br(body, limit)
    raise ValueError(f"unknown coding {coding!r}")


def _decode_gzip(body: bytes, limit: int) -> bytes | None:
    inflater = zlib.decompressobj(wbits=31)
    parts: list[bytes] = []
    total = 0
    pending = body
    try:
        while not inflater.eof:
            chunk = inflater.decompress(pending, STEP)
            pending = inflater.unconsumed_tail
            if not chunk and not pending:
                break  # no input left and no output: cut short (checked below)
            total += len(chunk)
            if total > limit:
                return None
            parts.append(chunk)
    except zlib.error as exc:
        raise MalformedBody(f"not gzip: {exc}") from exc
    if not inflater.eof or inflater.unused_data:
        raise MalformedBody("gzip data cut short or followed by other bytes")
    return b"".join(parts)


def _decode_zstd(body: bytes, limit: int) -> bytes | None:
    zstd = _zstd()
    window = {zstd.DecompressionParameter.window_log_max: ZSTD_WINDOW_LOG_MAX}
    parts: list[bytes] = []
    total = 0
    try:
        decompressor = zstd.ZstdDecompressor(options=window)
        chunk = decompressor.decompress(body, STEP)
        while True:
            total += len(chunk)
            if total > limit:
                return None
            parts.append(chunk)
            if decompressor.eof or decompressor.needs_input:
                break
            chunk = decompressor.decompress(b"", STEP)
    except zstd.ZstdError as exc:
        raise MalformedBody(f"not zstd: {exc}") from exc
    if not decompressor.eof or decompressor.unused_data:
        raise MalformedBody("zstd data cut short or followed by other bytes")
    return b"".join(parts)


def _decode_br(body: bytes, limit: int) -> bytes | None:
    import brotli

    decompressor = brotli.Decompressor()
    parts: list[bytes] = []
    total = 0
    try:
        chunk = decompressor.process(body, output_buffer_limit=STEP)
        while True:
            total += len(chunk)
            if total > limit:
                return None
            parts.append(chunk)
            if not chunk or decompressor.is_finished():
                break  # the end, or input used up with nothing more to give (checked below)
            chunk = decompressor.process(b"", output_buffer_limit=STEP)
    except brotli.error as exc:
        raise MalformedBody(f"not brotli: {exc}") from exc
    if not decompressor.is_finished():
        raise MalformedBody("brotli data cut short")
    return b"".join(parts)
