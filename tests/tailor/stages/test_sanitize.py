"""Header hygiene: internal, hop-by-hop and forwarded headers never reach a handler; no client
header travels inward; Server and X-Powered-By never leave."""

from __future__ import annotations

from harness import call

from tailor import Part, Plan, Request, Response, aggregate, json_response
from tailor.aggregate import AggregateBody


async def test_internal_and_hop_by_hop_headers_are_invisible_to_the_handler(make_bff) -> None:
    seen: dict[str, str] = {}
    bff = make_bff()

    @bff.get("/x", auth=False)
    async def x(request: Request) -> Response:
        seen.update(request.headers)
        return json_response({})

    await call(
        bff,
        "GET",
        "/x",
        headers={
            "x-user-id": "attacker",
            "x-internal-token": "forged",
            "x-deadline-ms": "999999",
            "x-viewer-country": "XX",
            "x-forwarded-for": "10.0.0.1",
            "forwarded": "for=10.0.0.1",
            "connection": "keep-alive",
            "keep-alive": "timeout=5",
            "te": "trailers",
            "upgrade": "h2c",
            "accept": "application/json",
        },
    )
    assert seen.get("accept") == "application/json"  # ordinary headers pass
    for name in (
        "x-user-id",
        "x-internal-token",
        "x-deadline-ms",
        "x-viewer-country",
        "x-forwarded-for",
        "forwarded",
        "connection",
        "keep-alive",
        "te",
        "upgrade",
    ):
        assert name not in seen, name


async def test_configured_internal_header_is_dropped(make_bff) -> None:
    seen: dict[str, str] = {}
    bff = make_bff({"sanitize": {"internal_headers": ["X-Tenant"]}})

    @bff.get("/x", auth=False)
    async def x(request: Request) -> Response:
        seen.update(request.headers)
        return json_response({})

    await call(bff, "GET", "/x", headers={"x-tenant": "other"})
    assert "x-tenant" not in seen


async def test_inward_requests_carry_no_client_header(make_bff, upstream) -> None:
    upstream.script("GET", "/users/u1", json={"id": "u1"})
    plan = Plan((Part("me", "users", "/users/u1", into=dict),))
    bff = make_bff({"upstreams": {"users": upstream.url}})

    @bff.get("/x", auth=False, plans=(plan,))
    async def x(request: Request) -> Response:
        return await aggregate(request, plan, lambda o: AggregateBody())

    response = await call(
        bff,
        "GET",
        "/x",
        headers={
            "authorization": "Bearer client-token",
            "cookie": "session=abc",
            "x-user-id": "attacker",
            "x-internal-token": "forged",
            "user-agent": "evil-client/1.0",
            "x-custom": "from-client",
        },
    )
    assert response.status == 200
    [seen] = upstream.received("/users/u1")
    for name in ("authorization", "cookie", "x-user-id", "x-internal-token", "x-custom"):
        assert name not in seen.headers, name
    assert seen.headers.get("user-agent") != "evil-client/1.0"
    assert "client-token" not in str(seen.headers)


async def test_part_headers_set_by_the_bff_do_travel_inward(make_bff, upstream) -> None:
    upstream.script("GET", "/users/u1", json={})
    plan = Plan(
        (
            Part(
                "me",
                "users",
                "/users/u1",
                into=dict,
                headers=lambda i: (("x-user-id", i.vars["user_id"]),),
            ),
        )
    )
    bff = make_bff({"upstreams": {"users": upstream.url}})

    @bff.get("/x", auth=False, plans=(plan,))
    async def x(request: Request) -> Response:
        return await aggregate(request, plan, lambda o: AggregateBody(), user_id="u1")

    await call(bff, "GET", "/x", headers={"x-user-id": "attacker"})
    assert upstream.received("/users/u1")[0].headers["x-user-id"] == "u1"


async def test_server_and_powered_by_set_by_a_handler_are_removed(make_bff) -> None:
    bff = make_bff()

    @bff.get("/x", auth=False)
    async def x(request: Request) -> Response:
        return Response(
            200,
            b"{}",
            [
                ("server", "nginx/1.2"),
                ("x-powered-by", "PHP"),
                ("x-user-id", "u1"),
                ("content-type", "application/json"),
            ],
        )

    response = await call(bff, "GET", "/x")
    names = [n for n, _ in response.headers]
    assert "server" not in names
    assert "x-powered-by" not in names
    assert "x-user-id" not in names
    assert response.header("content-type") == "application/json"
