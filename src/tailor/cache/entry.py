"""A stored response and its age arithmetic (RFC 9111 freshness, RFC 5861 stale windows).

Times are wall-clock seconds (``time.time()``) because entries in Redis are shared by
instances whose monotonic clocks have nothing in common.
"""

from __future__ import annotations

import hashlib

import msgspec


class Variant(msgspec.Struct, array_like=True, frozen=True):
    """A compressed representation of an entry's body, made when the entry is filled
    (tailor.compression), with its own strong ETag."""

    coding: str
    body: bytes
    etag: str


class CacheEntry(msgspec.Struct, array_like=True, frozen=True):
    """One cached response.

    >>> e = CacheEntry(200, b"{}", [], '"x"', stored_at=100.0, ttl_s=60, swr_s=30, sie_s=0)
    >>> e.fresh(159.0), e.revalidatable(180.0), e.usable_on_error(170.0)
    (True, True, False)
    """

    status: int
    body: bytes
    headers: list[tuple[str, str]]
    etag: str
    stored_at: float
    ttl_s: float
    swr_s: float
    sie_s: float
    tags: list[str] = msgspec.field(default_factory=list)
    #: The body in each content coding, by coding (none when compression is off or the body
    #: is not compressible); last, so entries stored before it decode with none.
    variants: dict[str, Variant] = msgspec.field(default_factory=dict)

    def age(self, now: float) -> float:
        return max(0.0, now - self.stored_at)

    def fresh(self, now: float) -> bool:
        return self.age(now) < self.ttl_s

    def revalidatable(self, now: float) -> bool:
        """Stale, but inside stale-while-revalidate: serve it and refresh in the background."""
        return self.age(now) < self.ttl_s + self.swr_s

    def usable_on_error(self, now: float) -> bool:
        """Inside stale-if-error: better than an error when the upstream fails."""
        return self.age(now) < self.ttl_s + self.sie_s

    @property
    def lifetime_s(self) -> float:
        """How long the entry is worth keeping at all."""
        return self.ttl_s + max(self.swr_s, self.sie_s)

    @property
    def size(self) -> int:
        headers = sum(len(k) + len(v) for k, v in self.headers)
        return len(self.body) + headers + sum(len(v.body) + 64 for v in self.variants.values()) + 64


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(CacheEntry)


def encode_entry(entry: CacheEntry) -> bytes:
    return _encoder.encode(entry)


def decode_entry(raw: bytes) -> CacheEntry:
    """Raises ``msgspec.DecodeError`` on bytes that are not an entry."""
    return _decoder.decode(raw)


def strong_etag(body: bytes) -> str:
    """A strong validator from the body bytes (the same body gives the same tag on every
    instance, so a client's ``If-None-Match`` works whichever instance answers)."""
    return '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'
