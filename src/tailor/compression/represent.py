"""Which responses get a compressed representation, and making one.

A response is compressible when its status carries content, its media type is one of
``compression.content_types`` (``text/*`` names a family), it has at least
``compression.min_bytes`` and nothing has encoded it already (a ``Content-Encoding``) or
forbidden it (``Cache-Control: no-transform``). An event stream never is, whatever the list
says: its events must reach the client as they are written, and a compressor holds them back.

A compressible response varies by ``Accept-Encoding``, in every representation (identity
included), so it carries ``Vary: Accept-Encoding``. Each compressed representation has its
own strong ETag, the digest of its own bytes (RFC 9110 s8.8.3: a strong validator changes
with the representation's bytes, and gzip's bytes are not identity's).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from tailor.cache.entry import Variant, strong_etag
from tailor.compression.codecs import Encoder, encoder
from tailor.config import CodingLevels, Compression

EVENT_STREAM = "text/event-stream"
#: Statuses whose response has no content to compress (RFC 9110 s6.4.1) or is a part of one.
_NO_CONTENT = frozenset({204, 206, 304})
VARY = ("vary", "accept-encoding")
#: Response headers that keep a response as it is: encoded already, or not to be transformed.
_VETO: dict[str, Callable[[str], bool]] = {
    "content-encoding": lambda value: value != "identity",
    "cache-control": lambda value: "no-transform" in value,
}

Headers = Sequence[tuple[str, str]]


class Representations:
    """What ``compression`` (a config section) compresses, with encoders at ``levels``.

    >>> from tailor.config import Compression
    >>> r = Representations(Compression(min_bytes=10), Compression().levels)
    >>> r.compressible(200, [("content-type", "application/json")], b"[" + b"1," * 20 + b"1]")
    True
    >>> r.compressible(200, [("content-type", "text/event-stream")], b"data: x\\n\\n" * 20)
    False
    """

    def __init__(self, settings: Compression, levels: CodingLevels) -> None:
        self.codings = tuple(settings.codings)
        self.min_bytes = settings.min_bytes
        types = settings.content_types
        self._types = frozenset(t for t in types if not t.endswith("/*"))
        self._families = tuple(t[:-1] for t in types if t.endswith("/*"))
        self._encoders: dict[str, Encoder] = {
            coding: encoder(coding, getattr(levels, coding)) for coding in self.codings
        }

    def compressible(self, status: int, headers: Headers, body: bytes) -> bool:
        """Whether a response of ``status``, ``headers`` and ``body`` gets compressed."""
        if status < 200 or status in _NO_CONTENT or len(body) < self.min_bytes:
            return False
        media = None
        for name, value in headers:
            if name == "content-type":
                media = value.partition(";")[0].strip().lower()
            elif name in _VETO and _VETO[name](value.strip().lower()):
                return False
        if media is None or media == EVENT_STREAM:
            return False
        return media in self._types or media.startswith(self._families)

    def encode(self, coding: str, body: bytes) -> bytes:
        return self._encoders[coding](body)

    def variants(self, body: bytes) -> dict[str, Variant]:
        """``body`` in every coding, by coding, each with its ETag; a coding that would not
        make it smaller is left out (identity is served instead)."""
        out = {}
        for coding, encode in self._encoders.items():
            encoded = encode(body)
            if len(encoded) < len(body):
                out[coding] = Variant(coding, encoded, strong_etag(encoded))
        return out


def with_vary(headers: Headers) -> list[tuple[str, str]]:
    """``headers`` saying the response varies by ``Accept-Encoding`` (unless they do already).

    >>> with_vary([("vary", "Origin")])
    [('vary', 'Origin'), ('vary', 'accept-encoding')]
    """
    out = list(headers)
    for name, value in out:
        if name == "vary":
            listed = {v.strip().lower() for v in value.split(",")}
            if "accept-encoding" in listed or "*" in listed:
                return out
    out.append(VARY)
    return out


def encoded_headers(headers: Headers, coding: str, etag: str | None) -> list[tuple[str, str]]:
    """The headers of the ``coding`` representation: ``headers`` with its Content-Encoding,
    and a strong ETag replaced by ``etag`` (a weak one stays: RFC 9110 s8.8.1 lets it cover
    every coding of the same content)."""
    out: list[tuple[str, str]] = []
    for name, value in headers:
        if name == "etag" and etag is not None and not value.startswith("W/"):
            out.append((name, etag))
        elif name != "content-length":
            out.append((name, value))
    out.append(("content-encoding", coding))
    return out
