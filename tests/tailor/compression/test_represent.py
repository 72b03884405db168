"""Which responses get compressed, and the headers of a compressed representation."""

from __future__ import annotations

import pytest

from tailor.compression.represent import Representations, encoded_headers, with_vary
from tailor.config import Compression

BODY = b"[" + b'{"id": 1},' * 200 + b"1]"
JSON = [("content-type", "application/json")]


def represent(**settings: object) -> Representations:
    compression = Compression(**settings)  # type: ignore[arg-type]
    return Representations(compression, compression.levels)


def test_a_json_body_over_the_minimum_is_compressible() -> None:
    assert represent().compressible(200, JSON, BODY)


def test_a_body_under_the_minimum_is_not() -> None:
    assert not represent(min_bytes=len(BODY) + 1).compressible(200, JSON, BODY)


def test_a_media_type_not_listed_is_not() -> None:
    assert not represent().compressible(200, [("content-type", "image/png")], BODY)
    assert not represent().compressible(200, [], BODY)


def test_a_family_entry_covers_its_subtypes_and_parameters_are_ignored() -> None:
    r = represent(content_types=["text/*"])
    assert r.compressible(200, [("content-type", "text/csv; charset=utf-8")], BODY)
    assert not r.compressible(200, JSON, BODY)


def test_an_event_stream_is_never_compressible() -> None:
    headers = [("content-type", "text/event-stream")]
    assert not represent(content_types=["text/*"]).compressible(200, headers, BODY)


def test_an_event_stream_in_the_content_types_stops_startup() -> None:
    with pytest.raises(ValueError, match="content_types"):
        Compression(content_types=["text/event-stream"])


def test_a_response_already_encoded_is_left_as_it_is() -> None:
    assert not represent().compressible(200, [*JSON, ("content-encoding", "gzip")], BODY)


def test_no_transform_is_honoured() -> None:
    headers = [*JSON, ("cache-control", "private, No-Transform")]
    assert not represent().compressible(200, headers, BODY)


@pytest.mark.parametrize("status", [101, 204, 206, 304])
def test_statuses_without_whole_content_are_not_compressible(status: int) -> None:
    assert not represent().compressible(status, JSON, BODY)


def test_vary_is_added_once() -> None:
    assert with_vary(JSON) == [*JSON, ("vary", "accept-encoding")]
    already = [("vary", "Origin, Accept-Encoding")]
    assert with_vary(already) == already
    assert with_vary([("vary", "*")]) == [("vary", "*")]


def test_a_compressed_representation_has_its_own_strong_etag_and_no_length() -> None:
    headers = [*JSON, ("etag", '"identity"'), ("content-length", "99")]
    assert encoded_headers(headers, "br", '"br"') == [
        *JSON,
        ("etag", '"br"'),
        ("content-encoding", "br"),
    ]


def test_a_weak_etag_is_kept_for_every_coding() -> None:
    headers = [("etag", 'W/"v1"')]
    assert encoded_headers(headers, "gzip", '"other"') == [*headers, ("content-encoding", "gzip")]


def test_variants_hold_each_coding_with_an_etag_of_its_own_bytes() -> None:
    variants = represent().variants(BODY)
    assert [(c, v.coding) for c, v in variants.items()] == [(c, c) for c in ("zstd", "br", "gzip")]
    assert len({v.etag for v in variants.values()}) == 3
    assert all(len(v.body) < len(BODY) for v in variants.values())


def test_a_coding_that_would_not_shrink_the_body_makes_no_variant() -> None:
    assert represent(min_bytes=0).variants(b"x") == {}
