"""Serve any BFF factory on tailor's HTTP/1.1 server, with the server's defaults:

    python -m tailor.serve --host 127.0.0.1 --port 8090 --workers 1 package.module:create

A BFF with a profile and a config file is started through :func:`tailor.serve.run.main`
instead (``python -m waveform.bffs.mobile --config ...``); this is for factories that build
their own config, such as the benchmarks' peers.
"""

from __future__ import annotations

import argparse
import logging
import sys

from tailor.config import build_config
from tailor.errors import ConfigError
from tailor.serve.workers import serve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tailor.serve", description=__doc__)
    parser.add_argument("factory", help="module:function returning a BFF")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        config = build_config(
            {
                "name": args.factory,
                "listen": {"host": args.host, "port": args.port},
                "server": {"workers": args.workers, "loop": args.loop},
            }
        )
    except ConfigError as exc:
        print(f"python -m tailor.serve: {exc}", file=sys.stderr)
        return 2
    return serve(args.factory, config, args.workers)


if __name__ == "__main__":
    sys.exit(main())
