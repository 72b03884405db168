"""The codecs: every coding round-trips, and a decoder refuses a body over its limit while
decoding, without ever holding the expansion (a zip bomb), and refuses bytes cut short."""

from __future__ import annotations

import os
import tracemalloc

import pytest

from tailor.compression.codecs import STEP, MalformedBody, decode, encoder

CODINGS = ("zstd", "br", "gzip")
BODY = b'{"tracks": [' + b",".join(b'{"id": "t%d"}' % i for i in range(500)) + b"]}"


@pytest.mark.parametrize("coding", CODINGS)
def test_a_body_encoded_in_a_coding_decodes_to_itself(coding: str) -> None:
    encoded = encoder(coding, 5)(BODY)
    assert len(encoded) < len(BODY)
    assert decode(coding, encoded, limit=len(BODY)) == BODY


@pytest.mark.parametrize("coding", CODINGS)
def test_encoding_is_deterministic(coding: str) -> None:
    assert encoder(coding, 5)(BODY) == encoder(coding, 5)(BODY)


@pytest.mark.parametrize("coding", CODINGS)
def test_a_body_one_byte_over_the_limit_is_refused(coding: str) -> None:
    assert decode(coding, encoder(coding, 5)(BODY), limit=len(BODY) - 1) is None


@pytest.mark.parametrize("coding", CODINGS)
def test_a_zip_bomb_is_refused_without_expanding_in_memory(coding: str) -> None:
    bomb = encoder(coding, 1)(bytes(16 * 1024 * 1024))  # 16 MiB of zeros in a few KB
    assert len(bomb) < 256 * 1024
    limit = 256 * 1024
    tracemalloc.start()
    try:
        assert decode(coding, bomb, limit=limit) is None
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < limit + len(bomb) + 4 * STEP  # not the 16 MiB it expands to


@pytest.mark.parametrize("coding", CODINGS)
def test_bytes_cut_short_are_malformed(coding: str) -> None:
    encoded = encoder(coding, 5)(os.urandom(200_000))
    with pytest.raises(MalformedBody):
        decode(coding, encoded[: len(encoded) - 10], limit=1 << 20)


@pytest.mark.parametrize("coding", CODINGS)
def test_bytes_that_are_not_the_coding_are_malformed(coding: str) -> None:
    with pytest.raises(MalformedBody):
        decode(coding, b"this is not compressed at all", limit=1 << 20)


@pytest.mark.parametrize("coding", ("zstd", "gzip"))
def test_bytes_after_the_end_of_the_data_are_malformed(coding: str) -> None:
    with pytest.raises(MalformedBody):
        decode(coding, encoder(coding, 5)(BODY) + b"junk", limit=1 << 20)
