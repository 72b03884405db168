"""The smallest BFF. Run: python hello_bff.py, then: curl -s 127.0.0.1:8090/hello/ada"""

from __future__ import annotations

import sys

from tailor import BFF, Query, Request, Response, Token, config_from_env, json_response, main

PROFILE = {"name": "hello", "listen": {"port": 8090}}


class Greeting(Query):
    greeting = Token(max_length=32)  # ?greeting=hi (absent: None)


def create() -> BFF:
    """What each server worker calls: the profile, with a --config file merged over it."""
    bff = BFF(config_from_env(PROFILE))

    @bff.get("/hello/{name}", auth=False, query=Greeting)  # auth=False: public
    async def hello(request: Request) -> Response:
        greeting = Greeting.of(request).greeting or "hello"
        return json_response({"greeting": greeting, "name": request.path_params["name"]})

    return bff


if __name__ == "__main__":
    sys.exit(main("hello_bff:create", PROFILE))
