"""A BFF served as a real process on tailor's HTTP/1.1 server, through
:func:`tailor.serve.run.main` (so through ``tailor.serve.workers``), by the worker and
entry-point tests:

    python -m http1_app --host 127.0.0.1 --port 8090 --workers 2 http1_app:create

``create`` answers with its worker's pid; ``broken`` builds, then fails in each worker's
startup, as a worker whose BFF has a bug would.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence

from tailor import BFF, Request, Response, build_config, json_response
from tailor.serve.run import main as run_main


def create() -> BFF:
    bff = BFF(build_config({"name": "http1-test", "admin": {"enabled": False}}))

    @bff.get("/pid", auth=False)
    async def pid(request: Request) -> Response:
        return json_response({"pid": os.getpid()})

    @bff.post("/echo", auth=False)
    async def echo(request: Request) -> Response:
        return json_response({"pid": os.getpid(), "body": request.body.decode()})

    return bff


class _Broken(BFF):
    def startup(self, *, admin: bool = True, loop: asyncio.AbstractEventLoop | None = None) -> None:
        raise RuntimeError("this BFF fails at startup")


def broken() -> BFF:
    return _Broken(build_config({"name": "http1-test", "admin": {"enabled": False}}))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m http1_app")
    parser.add_argument("factory", help="module:function returning a BFF")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)
    profile = {
        "name": "http1-test",
        "listen": {"host": args.host, "port": args.port},
        "admin": {"enabled": False},
        "server": {"workers": args.workers},
    }
    return run_main(args.factory, profile, ["--interface", "http1"])


if __name__ == "__main__":
    sys.exit(main())
