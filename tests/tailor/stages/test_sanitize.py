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

    @bff.get("/x", auth=False, plan=plan)
    async def x(request: Request) -> Response:
        return await aggregate(request, lambda o: AggregateBody())

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

    @bff.get("/x", auth=False, plan=plan)
    async def x(request: Request) -> Response:
        return await aggregate(request, lambda o: AggregateBody(), user_id="u1")

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


# -- X-Forwarded-For: trusted only as far as the configured proxies ---------------------------


async def client_seen(make_bff, trusted: int, headers: dict[str, str]) -> str:
    """The client address a handler sees, for a request from socket peer 203.0.113.7."""
    seen: list[str] = []
    bff = make_bff({"sanitize": {"trusted_proxies": trusted}})

    @bff.get("/x", auth=False)
    async def x(request: Request) -> Response:
        seen.append(request.client)
        assert not any(n.startswith("x-forwarded") for n in request.headers)
        return json_response({})

    await call(bff, "GET", "/x", headers=headers)
    return seen[0]


async def test_with_no_trusted_proxy_the_socket_peer_is_the_client(make_bff) -> None:
    assert await client_seen(make_bff, 0, {"x-forwarded-for": "1.1.1.1"}) == "203.0.113.7"


async def test_with_one_trusted_proxy_the_client_is_the_hop_it_appended(make_bff) -> None:
    assert await client_seen(make_bff, 1, {"x-forwarded-for": "198.51.100.5"}) == "198.51.100.5"


async def test_with_one_trusted_proxy_a_spoofed_left_part_is_ignored(make_bff) -> None:
    # The client sent "X-Forwarded-For: 1.1.1.1, 2.2.2.2"; our proxy appended its real address.
    chain = "1.1.1.1, 2.2.2.2, 198.51.100.5"
    assert await client_seen(make_bff, 1, {"x-forwarded-for": chain}) == "198.51.100.5"


async def test_with_two_trusted_proxies_the_client_is_left_of_both(make_bff) -> None:
    # client 198.51.100.5 -> proxy A (10.0.0.1) -> proxy B (socket peer) -> BFF
    chain = "1.1.1.1, 198.51.100.5, 10.0.0.1"
    assert await client_seen(make_bff, 2, {"x-forwarded-for": chain}) == "198.51.100.5"


async def test_with_two_trusted_proxies_a_short_chain_gives_its_left_most_hop(make_bff) -> None:
    assert await client_seen(make_bff, 2, {"x-forwarded-for": "198.51.100.5"}) == "198.51.100.5"


async def test_a_trusted_proxy_without_x_forwarded_for_leaves_the_peer(make_bff) -> None:
    assert await client_seen(make_bff, 1, {}) == "203.0.113.7"


async def test_a_garbage_hop_falls_back_to_the_proxy_that_wrote_it(make_bff) -> None:
    chain = "not-an-ip, 10.0.0.1"
    assert await client_seen(make_bff, 2, {"x-forwarded-for": chain}) == "10.0.0.1"


async def test_a_forwarded_header_is_never_trusted(make_bff) -> None:
    headers = {"forwarded": "for=1.1.1.1", "x-real-ip": "1.1.1.1"}
    assert await client_seen(make_bff, 1, headers) == "203.0.113.7"


async def test_the_rate_limit_keys_on_the_resolved_client(make_bff) -> None:
    bff = make_bff(
        {
            "sanitize": {"trusted_proxies": 1},
            "rate_limit": {"policies": {"ip": {"key": "ip", "limit": 1}}},
        }
    )

    @bff.get("/x", auth=False)
    async def x(request: Request) -> Response:
        return json_response({})

    first = await call(bff, "GET", "/x", headers={"x-forwarded-for": "6.6.6.6, 198.51.100.5"})
    # A new spoofed left part does not buy a new quota: the proxy-appended hop is the key.
    again = await call(bff, "GET", "/x", headers={"x-forwarded-for": "7.7.7.7, 198.51.100.5"})
    other = await call(bff, "GET", "/x", headers={"x-forwarded-for": "198.51.100.6"})
    assert (first.status, again.status, other.status) == (200, 429, 200)


# -- Connection cannot strip what tailor needs or sets -----------------------------------------


async def test_connection_cannot_hide_authorization_request_id_or_forwarded_for(make_bff) -> None:
    seen: dict[str, object] = {}
    bff = make_bff({"sanitize": {"trusted_proxies": 1}})

    @bff.get("/x", auth=False)
    async def x(request: Request) -> Response:
        seen.update(request.headers)
        seen["client"] = request.client
        seen["rid"] = request.request_id
        return json_response({})

    await call(
        bff,
        "GET",
        "/x",
        headers={
            "connection": "close, authorization, x-request-id, x-forwarded-for, cookie",
            "authorization": "Bearer t",
            "cookie": "a=b",
            "x-request-id": "req-12345678",
            "x-forwarded-for": "198.51.100.5",
        },
    )
    assert seen["authorization"] == "Bearer t"
    assert seen["cookie"] == "a=b"
    assert seen["rid"] == "req-12345678"
    assert seen["client"] == "198.51.100.5"
    assert "connection" not in seen


async def test_connection_naming_response_headers_does_not_remove_them(make_bff) -> None:
    bff = make_bff({"rate_limit": {"policies": {"ip": {"key": "ip", "limit": 5}}}})

    @bff.get("/x", auth=False)
    async def x(request: Request) -> Response:
        return json_response({})

    response = await call(
        bff,
        "GET",
        "/x",
        headers={"connection": "x-request-id, ratelimit, ratelimit-policy, content-type"},
    )
    for name in ("x-request-id", "ratelimit", "ratelimit-policy", "content-type"):
        assert response.header(name), name


async def test_a_handler_cannot_send_hop_by_hop_headers(make_bff) -> None:
    bff = make_bff()

    @bff.get("/x", auth=False)
    async def x(request: Request) -> Response:
        return Response(
            200,
            b"{}",
            [
                ("connection", "x-request-id"),
                ("keep-alive", "timeout=1"),
                ("transfer-encoding", "chunked"),
                ("content-type", "application/json"),
            ],
        )

    response = await call(bff, "GET", "/x")
    names = {n for n, _ in response.headers}
    assert not names & {"connection", "keep-alive", "transfer-encoding"}
    assert response.header("x-request-id")


# -- X-Forwarded-Host cannot choose the host ------------------------------------------------------


async def host_seen(make_bff, sanitize: dict[str, object], headers: dict[str, str]) -> str:
    seen: list[str] = []
    bff = make_bff({"sanitize": sanitize})

    @bff.get("/x", auth=False)
    async def x(request: Request) -> Response:
        seen.append(request.headers["host"])
        assert "x-forwarded-host" not in request.headers
        return json_response({})

    await call(bff, "GET", "/x", headers={"host": "bff.example", **headers})
    return seen[0]


async def test_x_forwarded_host_is_ignored_without_a_trusted_proxy(make_bff) -> None:
    sanitize = {"allowed_hosts": ["evil.example"]}
    headers = {"x-forwarded-host": "evil.example"}
    assert await host_seen(make_bff, sanitize, headers) == "bff.example"


async def test_x_forwarded_host_outside_the_allow_list_is_ignored(make_bff) -> None:
    sanitize = {"trusted_proxies": 1, "allowed_hosts": ["api.example"]}
    headers = {"x-forwarded-host": "evil.example"}
    assert await host_seen(make_bff, sanitize, headers) == "bff.example"


async def test_x_forwarded_host_from_a_trusted_proxy_on_the_allow_list_is_used(make_bff) -> None:
    sanitize = {"trusted_proxies": 1, "allowed_hosts": ["API.example"]}
    headers = {"x-forwarded-host": "api.example"}
    assert await host_seen(make_bff, sanitize, headers) == "api.example"


async def test_x_forwarded_proto_sets_the_scheme_only_from_a_trusted_proxy(make_bff) -> None:
    schemes: list[str] = []
    for trusted in (0, 1):
        bff = make_bff({"sanitize": {"trusted_proxies": trusted}})

        @bff.get("/x", auth=False)
        async def x(request: Request) -> Response:
            schemes.append(request.scheme)
            return json_response({})

        await call(bff, "GET", "/x", headers={"x-forwarded-proto": "https"})
    assert schemes == ["http", "https"]


# -- upstream response headers never reach the client -------------------------------------------


async def test_internal_headers_of_an_upstream_response_never_reach_the_client(
    make_bff, upstream
) -> None:
    leaky = {
        "x-internal-token": "secret-internal",
        "x-user-id": "u1",
        "server": "internal-svc/1.0",
        "set-cookie": "svc_session=abc; Path=/",
        "x-powered-by": "fastapi",
    }
    upstream.script("GET", "/users/u1", json={"id": "u1"}, headers=leaky)
    plan = Plan((Part("me", "users", "/users/u1", into=dict),))
    bff = make_bff({"upstreams": {"users": upstream.url}})

    @bff.get("/x", auth=False, plan=plan)
    async def x(request: Request) -> Response:
        return await aggregate(request, lambda o: AggregateBody())

    response = await call(bff, "GET", "/x")
    assert response.status == 200
    assert upstream.received("/users/u1")  # the upstream did answer, with those headers
    names = {n for n, _ in response.headers}
    assert not names & set(leaky), names & set(leaky)
    assert "secret-internal" not in repr(response.headers)
