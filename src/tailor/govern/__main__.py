"""``python -m tailor.govern <command> ...``: each module of this package that defines
``COMMAND`` is a subcommand (see :mod:`tailor.govern`)."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

import tailor.govern
from tailor.errors import ConfigError
from tailor.govern.command import Command


def commands() -> dict[str, Command]:
    """Every subcommand, by name: the ``COMMAND`` of each module of this package."""
    found: dict[str, Command] = {}
    for module in pkgutil.iter_modules(tailor.govern.__path__):
        loaded = importlib.import_module(f"tailor.govern.{module.name}")
        command = getattr(loaded, "COMMAND", None)
        if isinstance(command, Command):
            found[command.name] = command
    return dict(sorted(found.items()))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tailor.govern", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="command")
    found = commands()
    for name, command in found.items():
        command.configure(sub.add_parser(name, help=command.help, description=command.help))
    args = parser.parse_args(argv)
    try:
        return found[args.command].run(args)
    except ConfigError as exc:
        print(f"tailor.govern {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
