"""A BFF module in the shape tailor.govern loads: PROFILE and build(config)."""

from __future__ import annotations

from typing import Any

import msgspec

from tailor import BFF, Config, Json, Request, json_response


class Pong(msgspec.Struct):
    ok: bool


PROFILE: dict[str, Any] = {
    "name": "ping",
    # Needs a secret from the environment when it runs; governance leaves it out.
    "token_exchange": {"client_id": "bff-ping", "client_secret_env": "PING_SECRET_UNSET"},
}


def build(config: Config) -> BFF:
    bff = BFF(config)

    @bff.get("/v1/ping", auth=False)
    async def ping(request: Request) -> Json[Pong]:
        return json_response(Pong(True))

    return bff
