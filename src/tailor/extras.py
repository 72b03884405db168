"""The optional integrations of the tailor distribution, and the startup check that a config
asks only for those installed.

The core (tailor's own HTTP/1.1 server and upstream transport, msgspec, JWT, metrics) needs
none of them. Each is an extra of the distribution (``pip install 'tailor[redis]'``); the
module that uses one imports it where the feature is built, at startup. The config is checked
first, so a missing extra stops startup with a message naming the key and the extra to
install, instead of an ImportError in a worker.

>>> from tailor.config import build_config
>>> wanted_extras(build_config({"name": "demo"}))  # the core alone
[]
"""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING, NamedTuple

from tailor.compression.codecs import ZSTD_MODULE
from tailor.errors import ConfigError

if TYPE_CHECKING:
    from tailor.config import Config


class Extra(NamedTuple):
    """A config key asking for an optional package, and the extra that installs it."""

    key: str
    asks: str
    module: str
    extra: str


def wanted_extras(config: Config) -> list[Extra]:
    """The extras ``config`` needs, installed or not.

    >>> from tailor.config import build_config
    >>> wanted_extras(build_config({"name": "demo", "client": {"transport": "pyreqwest"}}))
    [Extra(key='client.transport', asks="'pyreqwest'", module='pyreqwest', extra='pyreqwest')]
    """
    wanted = []
    if config.state.redis_url is not None:
        wanted.append(Extra("state.redis_url", "Redis", "redis", "redis"))
    rpc = config.grpc_upstreams
    if rpc:
        wanted.append(Extra(f"upstreams.{rpc[0]}", "a gRPC upstream", "ngh2", "grpc"))
    if config.client.transport == "pyreqwest":
        wanted.append(Extra("client.transport", "'pyreqwest'", "pyreqwest", "pyreqwest"))
    if config.server.http2:
        wanted.append(Extra("server.http2", "HTTP/2", "ngh2", "http2"))
    if config.compression.enabled:
        for coding, module in (("zstd", ZSTD_MODULE), ("br", "brotli")):
            if coding in config.compression.codings:
                asks = f"'{coding}'"
                wanted.append(Extra("compression.codings", asks, module, "compression"))
    interface = config.server.interface
    if interface != "http1" and config.listen.tls is not None:
        # granian does not hand the client certificate to the app: see tailor.serve.tls.
        asks = f"TLS on server.interface '{interface}' (served by uvicorn)"
        wanted.append(Extra("listen.tls", asks, "uvicorn", "uvicorn"))
    elif interface != "http1":
        wanted.append(Extra("server.interface", f"'{interface}'", "granian", "granian"))
    return wanted


def check_extras(config: Config) -> None:
    """Stop startup when ``config`` asks for an integration whose extra is not installed."""
    for extra in wanted_extras(config):
        require(extra)


def require(extra: Extra) -> None:
    """Stop startup unless ``extra`` is installed: for a feature a BFF's code asks for (a
    live WebSocket route) rather than its config.

    >>> try:
    ...     require(Extra("stages.live", "a WebSocket", "no_such_module", "live"))
    ... except ConfigError as exc:
    ...     print(exc)
    invalid config at 'stages.live': a WebSocket needs tailor[live]: pip install 'tailor[live]'
    """
    if importlib.util.find_spec(extra.module) is None:
        raise ConfigError(
            extra.key,
            f"{extra.asks} needs tailor[{extra.extra}]: pip install 'tailor[{extra.extra}]'",
        )
