"""``python -m tailor dashboard``: the command line.

    python -m tailor dashboard --port 8180 \\
        --target mobile=http://127.0.0.1:8181 --target web=http://127.0.0.1:8182

or ``--targets FILE``, a TOML file with a ``[targets]`` table of the same ``name = "url"``
pairs. A bad target stops it, naming it (exit status 2).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tomllib
from collections.abc import Sequence
from urllib.parse import urlsplit

from tailor.dashboard.server import Dashboard, serve
from tailor.errors import ConfigError


def parse_targets(pairs: Sequence[str], file: str | None = None) -> dict[str, str]:
    """``name=url`` pairs (and a TOML file's ``[targets]``) as ``{name: admin URL}``; a
    BFF with several workers names each one's admin URL, ``name=url,url`` (a list in TOML).

    >>> parse_targets(["mobile=http://127.0.0.1:8181"])
    {'mobile': 'http://127.0.0.1:8181'}
    >>> parse_targets(["mobile"])
    Traceback (most recent call last):
    ...
    tailor.errors.ConfigError: invalid config at 'targets.mobile': expected name=http://host:port
    """
    found: dict[str, object] = {}
    if file is not None:
        try:
            with open(file, "rb") as f:
                table = tomllib.load(f).get("targets")
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError("targets", f"cannot read {file}: {exc}") from exc
        if not isinstance(table, dict):
            raise ConfigError("targets", f"{file} has no [targets] table")
        found.update(table)
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep:
            raise ConfigError(f"targets.{pair}", "expected name=http://host:port")
        found[name.strip()] = value.strip()
    targets: dict[str, str] = {}
    for name, given in found.items():
        # One BFF with several workers has one admin port each: a list, or url,url,...
        urls = given if isinstance(given, list) else str(given).split(",")
        checked = []
        for url in urls:
            parts = urlsplit(url.strip()) if isinstance(url, str) else None
            if not name or parts is None or parts.scheme not in ("http", "https"):
                raise ConfigError(f"targets.{name}", f"expected an http(s) URL, got {url!r}")
            if not parts.hostname:
                raise ConfigError(f"targets.{name}", f"expected an http(s) URL, got {url!r}")
            checked.append(parts.geturl())
        targets[name] = ",".join(checked)
    if not targets:
        raise ConfigError("targets", "name at least one BFF admin URL (--target name=url)")
    return targets


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tailor dashboard", description="One dashboard for all BFFs."
    )
    parser.add_argument(
        "--target",
        action="append",
        default=[],
        metavar="NAME=URL",
        help="a BFF's admin base URL (repeat for each BFF)",
    )
    parser.add_argument("--targets", metavar="FILE", help="a TOML file with a [targets] table")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8180)
    parser.add_argument("--refresh", type=float, default=5.0, help="seconds between page updates")
    parser.add_argument(
        "--window",
        type=float,
        action="append",
        metavar="SECONDS",
        help="an SLO burn window (repeat; default 60 and 300); the shortest is the rates' window",
    )
    parser.add_argument(
        "--objective",
        type=float,
        default=0.999,
        help="the availability objective SLO burn is measured against",
    )
    args = parser.parse_args(argv)
    try:
        targets = parse_targets(args.target, args.targets)
        if not 0 < args.objective < 1:
            raise ConfigError("objective", f"must be between 0 and 1, got {args.objective}")
        if args.refresh <= 0:
            raise ConfigError("refresh", f"must be positive, got {args.refresh}")
        windows = args.window or [60.0, 300.0]
        if min(windows) <= 0:
            raise ConfigError("window", f"must be positive, got {min(windows)}")
    except ConfigError as exc:
        print(f"dashboard: {exc}", file=sys.stderr)
        return 2
    dashboard = Dashboard(
        targets, refresh_s=args.refresh, windows_s=windows, objective=args.objective
    )
    try:
        asyncio.run(serve(dashboard, args.host, args.port))
    except OSError as exc:  # the port is taken, or the host is not ours
        print(f"dashboard: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    return 0
