"""A BFF module for the SLO generator: a read, a write and an ``auth`` route."""

from __future__ import annotations

from typing import Any

from tailor import BFF, Config, Request, Response

PROFILE: dict[str, Any] = {
    "name": "kiosk",
    "admin": {"port": 8199},
    "rate_limit": {"route_classes": {"POST /v1/login": "auth"}},
}


def build(config: Config) -> BFF:
    bff = BFF(config)

    async def answer(request: Request) -> Response:
        return Response(204)

    bff.get("/v1/items/{id}", auth=False)(answer)
    bff.get("/v1/feed.json", auth=False)(answer)
    bff.post("/v1/items", auth=False)(answer)
    bff.post("/v1/login", auth=False)(answer)
    return bff
