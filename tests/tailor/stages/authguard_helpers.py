"""Helpers for the authguard tests: a BFF with bearer JWTs (JWKS from a real scripted
upstream), a login endpoint that refuses bad passwords itself, and a request sender that
chooses the client IP."""

from __future__ import annotations

from typing import Any

from harness import AUDIENCE, ISSUER, bearer, sign

from tailor import BFF, Request, Response, Unauthorized, json_response
from tailor.errors import HTTPProblem
from tailor.problem import problem_response

JWKS_PATH = "/.well-known/jwks.json"
GOOD = bearer(sign("k1"))
BAD = bearer("not.a.token")
PASSWORD = "right"


class Forbidden(HTTPProblem):
    status = 403
    title = "Forbidden"


def guarded(
    make_bff: Any,
    accounts_url: str,
    limit: int = 3,
    *,
    redis_url: str | None = None,
    **rate_limit: Any,
) -> BFF:
    bff: BFF = make_bff(
        {
            "auth": {"jwt": {"issuer": ISSUER, "audience": AUDIENCE, "jwks_upstream": "accounts"}},
            "upstreams": {"accounts": accounts_url},
            "state": {"redis_url": redis_url},
            "rate_limit": {"auth_failures": {"limit": limit, "window_s": 60}, **rate_limit},
        }
    )

    @bff.get("/me")
    async def me(request: Request) -> Response:
        return json_response({"ok": True})

    @bff.get("/owned-by-someone-else")
    async def forbidden(request: Request) -> Response:
        raise Forbidden("not yours")

    @bff.post("/login", auth=False)
    async def login(request: Request) -> Response:
        if request.headers.get("x-password") != PASSWORD:
            raise Unauthorized("invalid username or password")
        return json_response({"token": "t"})

    @bff.post("/cross-site-login", auth=False)
    async def cross_site(request: Request) -> Response:
        return problem_response(403, "cross-site request refused")

    return bff


async def send(
    bff: BFF,
    path: str = "/me",
    *,
    ip: str = "203.0.113.7",
    headers: dict[str, str] | None = None,
    method: str = "GET",
) -> Response:
    bff.startup(admin=False)
    request = Request(method, path, "", {"host": "bff.test", **(headers or {})}, ip)
    return await bff.handle(request)


async def statuses(bff: BFF, n: int, path: str = "/me", **kwargs: Any) -> list[int]:
    return [(await send(bff, path, **kwargs)).status for _ in range(n)]
