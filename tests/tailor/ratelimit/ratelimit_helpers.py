"""Helpers for the rate-limit tests: send a request as an authenticated caller, parse the
draft -11 header lists strictly, build a BFF with policies."""

from __future__ import annotations

import re
from typing import Any

from tailor import BFF, Request, Response, json_response
from tailor.auth.apps import App
from tailor.auth.principal import Principal

# One item of a Structured Field List as draft -11 writes it: "name";key=int;key=int
ITEM = re.compile(r'"(?P<name>[A-Za-z0-9_.-]+)"(?P<params>(?:;[a-z]+=\d+)+)')


def parse_list(value: str) -> dict[str, dict[str, int]]:
    """Parse a RateLimit / RateLimit-Policy value strictly, or fail the test."""
    items: dict[str, dict[str, int]] = {}
    for raw in value.split(", "):
        m = ITEM.fullmatch(raw)
        assert m, f"not a structured-field item: {raw!r} in {value!r}"
        params = dict(p.split("=") for p in m.group("params").lstrip(";").split(";"))
        items[m.group("name")] = {k: int(v) for k, v in params.items()}
    return items


async def send(
    bff: BFF,
    path: str = "/read",
    method: str = "GET",
    *,
    ip: str = "203.0.113.7",
    user: str | None = None,
    client_id: str = "",
    tier: str | None = None,
) -> Response:
    """One request through the pipeline as if authentication (and entitlements) had run: no
    authenticator is configured, so the principal set here is what the stage sees."""
    bff.startup(admin=False)
    request = Request(method, path, "", {"host": "bff.test"}, ip)
    if user is not None or client_id:
        request.principal = Principal(user or client_id, client_id=client_id)
    if tier is not None:
        request.app = App(client_id, tier=tier)
    return await bff.handle(request)


def limited(make_bff: Any, policies: dict[str, Any], **extra: Any) -> BFF:
    bff: BFF = make_bff({"rate_limit": {"policies": policies, **extra}})

    async def ok(request: Request) -> Response:
        return json_response({"ok": True})

    bff.get("/read", auth=False)(ok)
    bff.post("/write", auth=False)(ok)
    bff.post("/token", auth=False)(ok)
    return bff
