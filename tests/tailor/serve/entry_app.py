"""A tiny BFF served as a real process by the entry-point tests (granian RSGI, uvicorn ASGI)."""

from __future__ import annotations

from tailor import BFF, Request, Response, build_config, json_response


def create() -> BFF:
    config = build_config(
        {"name": "entry", "admin": {"enabled": False}, "limits": {"max_body_bytes": 16}}
    )
    bff = BFF(config)

    @bff.get("/hello/{name}", auth=False)
    async def hello(request: Request) -> Response:
        return json_response({"hello": request.path_params["name"], "q": request.query})

    @bff.get("/header/{name}", auth=False)
    async def header(request: Request) -> Response:
        return json_response({"value": request.headers.get(request.path_params["name"])})

    @bff.post("/echo", auth=False)
    async def echo(request: Request) -> Response:
        return json_response({"body": request.body.decode()})

    @bff.get("/leaky", auth=False)
    async def leaky(request: Request) -> Response:
        return Response(200, b"{}", [("server", "leaky/1.0"), ("x-powered-by", "leaky")])

    return bff
