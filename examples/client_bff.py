"""A BFF that serves its browser client on its own origin. Run: python client_bff.py, then
open http://127.0.0.1:8093/ (the page calls /api/hello/ada on the same origin).

The client is a folder of plain files (client/): index.html, ES modules, CSS, with no build
step. :class:`tailor.static.StaticSite` serves it from a stage placed before routing: the page
at "/" (revalidated, with a strict Content-Security-Policy) and every other file under
/assets/ with its content digest in its name, cached for a year. docs/web-client.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

from tailor import BFF, Config, Request, Response, json_response
from tailor.serve.run import config_from_env, main
from tailor.static import StaticSite

PROFILE = {"name": "client", "listen": {"port": 8093}, "admin": {"enabled": False}}
CLIENT = Path(__file__).with_name("client")


def create(config: Config | None = None) -> BFF:
    bff = BFF(config or config_from_env(PROFILE))
    bff.add_stage(StaticSite(CLIENT), before="route")  # the client's files, before routing

    @bff.get("/api/hello/{name}", auth=False)
    async def hello(request: Request) -> Response:
        return json_response({"greeting": f"hello, {request.path_params['name']}"})

    return bff


if __name__ == "__main__":
    sys.exit(main("client_bff:create", PROFILE))
