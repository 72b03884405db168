"""Serve any BFF factory on tailor's HTTP/1.1 server:

    python -m tailor.serve --port 8090 --workers 2 package.module:create

The BFF serves with the config its factory built (``listen``, ``server``, ``admin``, ...);
each flag given overrides its key (``--host`` ``listen.host``, ``--port`` ``listen.port``,
``--workers`` ``server.workers``, ``--loop`` ``server.loop``), and a flag not given leaves
the factory's setting alone. A BFF with a profile and a config file is started through
:func:`tailor.serve.run.main` instead (``python -m waveform.bffs.mobile --config ...``).
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from tailor.config import Config, override
from tailor.errors import ConfigError
from tailor.serve.workers import load_bff, serve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tailor.serve", description=__doc__)
    parser.add_argument("factory", help="module:function returning a BFF")
    parser.add_argument("--host", help="override listen.host")
    parser.add_argument("--port", type=int, help="override listen.port")
    parser.add_argument("--workers", type=int, help="override server.workers")
    parser.add_argument("--loop", choices=["uvloop", "asyncio"], help="override server.loop")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    given: dict[str, dict[str, Any]] = {
        "listen": {"host": args.host, "port": args.port},
        "server": {"workers": args.workers, "loop": args.loop},
    }
    changes = {
        section: {key: value for key, value in keys.items() if value is not None}
        for section, keys in given.items()
    }

    def configure(config: Config) -> Config:
        return override(config, changes)

    try:
        bff = load_bff(args.factory, configure)
    except ConfigError as exc:
        print(f"python -m tailor.serve: {exc}", file=sys.stderr)
        return 2
    return serve(bff)


if __name__ == "__main__":
    sys.exit(main())
