"""The compression section: what it needs installed, and bad values stopping startup naming
their key."""

from __future__ import annotations

from typing import Any

import pytest

from tailor import ConfigError, build_config
from tailor.extras import wanted_extras


def config(**compression: Any) -> Any:
    return build_config({"name": "t", "compression": compression})


def test_zstd_and_brotli_need_the_compression_extra() -> None:
    wanted = wanted_extras(config(enabled=True))
    assert [(e.key, e.asks, e.extra) for e in wanted] == [
        ("compression.codings", "'zstd'", "compression"),
        ("compression.codings", "'br'", "compression"),
    ]


def test_gzip_alone_needs_no_extra() -> None:
    assert wanted_extras(config(enabled=True, codings=["gzip"])) == []


def test_compression_is_off_by_default() -> None:
    assert not build_config({"name": "t"}).compression.enabled


@pytest.mark.parametrize(
    ("settings", "key"),
    [
        ({"codings": ["gzip", "gzip"]}, "compression.codings"),
        ({"codings": []}, "compression.codings"),
        ({"codings": ["deflate"]}, "compression.codings.0"),
        ({"levels": {"br": 12}}, "compression.levels.br"),
        ({"cache_levels": {"zstd": 0}}, "compression.cache_levels.zstd"),
        ({"content_types": ["text/event-stream"]}, "compression.content_types"),
        ({"content_types": ["json"]}, "compression.content_types.0"),
        ({"max_decoded_bytes": 0}, "compression.max_decoded_bytes"),
        ({"level": 3}, "compression.level"),
    ],
)
def test_a_bad_value_stops_startup_naming_its_key(settings: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as info:
        config(enabled=True, **settings)
    assert info.value.key == key
