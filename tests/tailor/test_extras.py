"""Which extra each config key asks for (the refusal when one is missing runs against a real
bare install in tests/packaging/test_wheel.py)."""

from __future__ import annotations

from typing import Any

from tailor import build_config
from tailor.extras import wanted_extras

TLS = {"cert_file": "cert.pem", "key_file": "key.pem"}


def _extras(data: dict[str, Any]) -> list[tuple[str, str]]:
    return [(e.key, e.extra) for e in wanted_extras(build_config({"name": "t", **data}))]


def test_the_default_config_needs_no_extra() -> None:
    assert _extras({}) == []


def test_a_redis_url_needs_the_redis_extra() -> None:
    assert _extras({"state": {"redis_url": "redis://127.0.0.1:6379/0"}}) == [
        ("state.redis_url", "redis")
    ]


def test_the_pyreqwest_transport_needs_the_pyreqwest_extra() -> None:
    assert _extras({"client": {"transport": "pyreqwest"}}) == [("client.transport", "pyreqwest")]


def test_the_rsgi_and_asgi_interfaces_need_the_granian_extra() -> None:
    assert _extras({"server": {"interface": "rsgi"}}) == [("server.interface", "granian")]
    assert _extras({"server": {"interface": "asgi"}}) == [("server.interface", "granian")]


def test_tls_on_the_asgi_interface_needs_the_uvicorn_extra_instead() -> None:
    data = {"server": {"interface": "asgi"}, "listen": {"tls": TLS}}
    assert _extras(data) == [("listen.tls", "uvicorn")]


def test_tls_on_tailors_own_server_needs_no_extra() -> None:
    assert _extras({"listen": {"tls": TLS}}) == []
