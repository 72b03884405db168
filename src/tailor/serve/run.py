"""Run a BFF on tailor's own server (or granian): validate config first, then serve.

    python -m waveform.bffs.mobile --config mobile.toml

Config is validated in the parent before any worker starts, so a bad key stops the process
with a message naming it (exit status 2) instead of a crash loop of workers.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

from msgspec.structs import replace

from tailor.config import Config, load_config, override
from tailor.errors import ConfigError
from tailor.serve.workers import load_bff, serve

CONFIG_ENV = "TAILOR_CONFIG_FILE"


def config_from_env(profile: dict[str, Any]) -> Config:
    """What a worker's factory calls: the file the parent validated, over the profile."""
    return load_config(os.environ.get(CONFIG_ENV) or None, profile)


def _serving(config: Config) -> dict[str, Any]:
    """The sections that say where and how a BFF is served."""
    return {"listen": config.listen, "server": config.server}


def main(factory: str, profile: dict[str, Any], argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=f"Run the {profile.get('name')} BFF")
    parser.add_argument("--config", help="a TOML or JSON file merged over the profile")
    parser.add_argument(
        "--interface", choices=["http1", "rsgi", "asgi"], help="override server.interface"
    )
    parser.add_argument("--workers", type=int, help="override server.workers")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        config = load_config(args.config, profile)
    except ConfigError as exc:
        print(f"{profile.get('name')}: {exc}", file=sys.stderr)
        return 2
    os.environ[CONFIG_ENV] = os.path.abspath(args.config) if args.config else ""

    interface = args.interface or config.server.interface
    workers = args.workers or config.server.workers
    try:
        served = override(config, {"server": {"workers": workers, "interface": interface}})
        # Where and how the factory's BFF is served (listen, server) is what was validated
        # here with the command line's overrides; tailor's workers inherit it, never reading
        # the environment again. Checked here for every interface, so a route no
        # authenticator covers stops startup once, not in each granian worker.
        bff = load_bff(factory, lambda own: replace(own, **_serving(served)))
    except ConfigError as exc:
        print(f"{profile.get('name')}: {exc}", file=sys.stderr)
        return 2
    if interface == "http1":  # tailor's server, over TLS too (listen.tls)
        return serve(bff)

    if config.listen.tls is not None:
        # granian does not hand the client certificate to the app: see tailor.serve.tls.
        from tailor.serve.tls import serve_tls

        serve_tls(factory, config)
        return 0

    from granian import Granian
    from granian.constants import HTTPModes, Interfaces, Loops
    from granian.http import HTTP1Settings

    Granian(
        target=factory,
        factory=True,
        address=config.listen.host,
        port=config.listen.port,
        interface=Interfaces.RSGI if interface == "rsgi" else Interfaces.ASGI,
        workers=workers,
        http=HTTPModes.http1,
        websockets=False,
        http1_settings=HTTP1Settings(
            header_read_timeout=int(config.limits.header_read_timeout_s * 1000)
        ),
        log_access=False,
        loop=Loops.uvloop if config.server.loop == "uvloop" else Loops.asyncio,
    ).serve()
    return 0
