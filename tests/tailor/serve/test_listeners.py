"""Which listener serves what: ``listen.tls_port`` (TLS on a port of its own beside the clear-
text ``listen.port``) and ``server.http2``, as the config states them and as the server's
settings take them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tailor import ConfigError, build_config
from tailor.extras import wanted_extras
from tailor.serve.http1 import settings_from
from waveform.certs import ensure_demo_certs


def _key_of(data: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as info:
        build_config({"name": "t", **data})
    return info.value.key


def test_a_tls_port_without_tls_names_listen_tls_port() -> None:
    assert _key_of({"listen": {"tls_port": 8443}}) == "listen.tls_port"


def test_a_tls_port_equal_to_the_port_names_listen_tls_port() -> None:
    tls = {"cert_file": "c.pem", "key_file": "k.pem"}
    assert _key_of({"listen": {"port": 8443, "tls": tls, "tls_port": 8443}}) == "listen.tls_port"


def test_http2_asks_for_the_http2_extra() -> None:
    config = build_config({"name": "t", "server": {"http2": True}})
    assert [(e.key, e.extra) for e in wanted_extras(config)] == [("server.http2", "http2")]


def test_with_a_tls_port_the_port_is_clear_text_and_the_tls_port_offers_h2(
    tmp_path: Path,
) -> None:
    certs = ensure_demo_certs(tmp_path)
    tls = {"cert_file": str(certs.server.cert), "key_file": str(certs.server.key)}
    config = build_config(
        {"name": "t", "listen": {"tls": tls, "tls_port": 8443}, "server": {"http2": True}}
    )
    plain, secure = settings_from(config), settings_from(config, tls_port=True)
    assert (plain.tls, plain.scheme, plain.http2) == (None, "http", True)
    assert secure.tls is not None and secure.scheme == "https"
