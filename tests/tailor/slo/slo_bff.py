"""A BFF module for the SLO generator: read, write and ``auth`` routes. An item named
``broken`` answers 503, so a test can burn the read class's budget."""

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

    async def item(request: Request) -> Response:
        return Response(503 if request.path_params["id"] == "broken" else 204)

    bff.get("/v1/items/{id}", auth=False)(item)
    bff.get("/v1/feed.json", auth=False)(answer)
    bff.post("/v1/items", auth=False)(answer)
    bff.post("/v1/login", auth=False)(answer)
    return bff
