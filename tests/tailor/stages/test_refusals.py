"""Every local refusal names the request it refuses: the problem body's ``request_id`` and the
``X-Request-Id`` header both carry the request's id, whichever stage refused it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from harness import AUDIENCE, ISSUER, assert_problem, bearer, call, jwks, sign
from upstreams import closed_port

from tailor import BFF, Request, Response, json_response
from tailor.errors import ClientDisconnected

RID = "refusal-trace-0001"
JWT = {"auth": {"jwt": {"issuer": ISSUER, "audience": AUDIENCE, "jwks_upstream": "accounts"}}}
#: The refusals below the authenticator need a BFF that may serve /me with no authenticator.
ANONYMOUS = {"auth": {"anonymous": True}}
Refuse = Callable[[Any, Any], Awaitable[Response]]


def _bff(make_bff: Any, config: dict[str, Any] | None = None) -> BFF:
    bff: BFF = make_bff(
        config if config is not None and "auth" in config else {**ANONYMOUS, **(config or {})}
    )

    @bff.get("/open", auth=False)
    async def open_route(request: Request) -> Response:
        return json_response({})

    @bff.post("/upload", auth=False)
    async def upload(request: Request) -> Response:
        return json_response({})

    @bff.get("/me")
    async def me(request: Request) -> Response:
        return json_response({})

    return bff


async def _send(bff: BFF, method: str, path: str, **options: Any) -> Response:
    headers = {"x-request-id": RID, **options.pop("headers", {})}
    return await call(bff, method, path, headers=headers, **options)


async def _no_route(make_bff: Any, upstream: Any) -> Response:
    return await _send(_bff(make_bff), "GET", "/nowhere")


async def _wrong_method(make_bff: Any, upstream: Any) -> Response:
    return await _send(_bff(make_bff), "DELETE", "/open")


async def _headers_too_large(make_bff: Any, upstream: Any) -> Response:
    bff = _bff(make_bff, {"limits": {"max_header_bytes": 256}})
    return await _send(bff, "GET", "/open", headers={"x-padding": "a" * 300})


async def _malformed_length(make_bff: Any, upstream: Any) -> Response:
    return await _send(_bff(make_bff), "POST", "/upload", headers={"content-length": "ten"})


async def _body_too_large(make_bff: Any, upstream: Any) -> Response:
    bff = _bff(make_bff, {"limits": {"max_body_bytes": 10}})
    return await _send(bff, "POST", "/upload", body=b"x" * 11)


async def _chunked_body_too_large(make_bff: Any, upstream: Any) -> Response:
    bff = _bff(make_bff, {"limits": {"max_body_bytes": 10}})
    return await _send(bff, "POST", "/upload", chunks=[b"x" * 6, b"x" * 6])


async def _body_too_slow(make_bff: Any, upstream: Any) -> Response:
    async def never() -> AsyncIterator[bytes]:
        await asyncio.Event().wait()
        yield b""

    bff = _bff(make_bff, {"limits": {"receive_timeout_s": 0.05}})
    headers = {"content-length": "5"}
    return await _send(bff, "POST", "/upload", headers=headers, read_body=never)


async def _no_credential(make_bff: Any, upstream: Any) -> Response:
    bff = _bff(make_bff, {**JWT, "upstreams": {"accounts": upstream.url}})
    return await _send(bff, "GET", "/me")


async def _bad_credential(make_bff: Any, upstream: Any) -> Response:
    upstream.script("GET", "/.well-known/jwks.json", json=jwks("k1"))
    bff = _bff(make_bff, {**JWT, "upstreams": {"accounts": upstream.url}})
    return await _send(bff, "GET", "/me", headers=bearer("not.a.token"))


async def _keys_unavailable(make_bff: Any, upstream: Any) -> Response:
    bff = _bff(make_bff, {**JWT, "upstreams": {"accounts": f"http://127.0.0.1:{closed_port()}"}})
    return await _send(bff, "GET", "/me", headers=bearer(sign("k1")))


async def _app_not_entitled(make_bff: Any, upstream: Any) -> Response:
    upstream.script("GET", "/.well-known/jwks.json", json=jwks("k1"))
    config = {**JWT, "entitlements": {"enabled": True}, "upstreams": {"accounts": upstream.url}}
    bff = _bff(make_bff, config)
    return await _send(bff, "GET", "/me", headers=bearer(sign("k1", client_id="bad id!")))


async def _registry_unavailable(make_bff: Any, upstream: Any) -> Response:
    upstream.script("GET", "/.well-known/jwks.json", json=jwks("k1"))
    config = {
        **JWT,
        "entitlements": {"enabled": True, "registry_upstream": "registry"},
        "upstreams": {"accounts": upstream.url, "registry": f"http://127.0.0.1:{closed_port()}"},
    }
    return await _send(
        _bff(make_bff, config), "GET", "/me", headers=bearer(sign("k1", client_id="app"))
    )


async def _too_many_auth_failures(make_bff: Any, upstream: Any) -> Response:
    upstream.script("GET", "/.well-known/jwks.json", json=jwks("k1"))
    config = {
        **JWT,
        "upstreams": {"accounts": upstream.url},
        "rate_limit": {"auth_failures": {"limit": 1, "window_s": 60}},
    }
    bff = _bff(make_bff, config)
    assert (await _send(bff, "GET", "/me")).status == 401
    return await _send(bff, "GET", "/me")


async def _over_quota(make_bff: Any, upstream: Any) -> Response:
    bff = _bff(make_bff, {"rate_limit": {"policies": {"per-ip": {"key": "ip", "limit": 1}}}})
    assert (await _send(bff, "GET", "/open")).status == 200
    return await _send(bff, "GET", "/open")


async def _shed(make_bff: Any, upstream: Any) -> Response:
    shed = {"enabled": True, "max_in_flight": 1, "max_queue_wait_s": 0}
    bff: BFF = make_bff({"resilience": {"shed": shed}})
    entered, gate = asyncio.Event(), asyncio.Event()

    @bff.get("/work", auth=False)
    async def work(request: Request) -> Response:
        entered.set()
        await gate.wait()
        return json_response({})

    running = asyncio.ensure_future(call(bff, "GET", "/work"))
    await entered.wait()
    refused = await _send(bff, "GET", "/work")
    gate.set()
    await running
    return refused


async def _client_left(make_bff: Any, upstream: Any) -> Response:
    async def breaks_off() -> AsyncIterator[bytes]:
        yield b"ab"
        raise ClientDisconnected("gone")

    headers = {"content-length": "5"}
    return await _send(_bff(make_bff), "POST", "/upload", headers=headers, read_body=breaks_off)


REFUSALS: dict[str, tuple[int, Refuse]] = {
    "route: no such endpoint": (404, _no_route),
    "route: method not allowed": (405, _wrong_method),
    "limits: headers too large": (431, _headers_too_large),
    "limits: malformed content-length": (400, _malformed_length),
    "limits: declared body too large": (413, _body_too_large),
    "limits: chunked body too large": (413, _chunked_body_too_large),
    "limits: body too slow": (408, _body_too_slow),
    "authenticate: no credential": (401, _no_credential),
    "authenticate: bad credential": (401, _bad_credential),
    "authenticate: keys unavailable": (503, _keys_unavailable),
    "entitle: app not entitled": (403, _app_not_entitled),
    "entitle: registry unavailable": (503, _registry_unavailable),
    "authguard: too many failures": (429, _too_many_auth_failures),
    "ratelimit: over quota": (429, _over_quota),
    "shed: over capacity": (503, _shed),
    "errors: client left mid-body": (400, _client_left),
}


@pytest.mark.parametrize("name", list(REFUSALS))
async def test_a_local_refusal_carries_the_request_id_in_body_and_header(
    make_bff: Any, upstream: Any, name: str
) -> None:
    status, refuse = REFUSALS[name]
    response = await refuse(make_bff, upstream)
    problem = assert_problem(response, status)
    assert problem["request_id"] == RID
    assert response.header("x-request-id") == RID
