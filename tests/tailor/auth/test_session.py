"""Cookie sessions through the pipeline: fixation, CSRF, logout across instances (Redis)."""

from __future__ import annotations

import pytest
from harness import assert_problem, body_json, call

from tailor import Request, Response, json_response
from tailor.auth.session import (
    MemorySessionStore,
    SessionManager,
    read_cookie,
)
from tailor.config import build_config
from tailor.errors import ConfigError

ORIGIN = "https://app.example"
COOKIE = "__Host-sid"


def _bff(make_bff, store: str = "memory", redis_url: str | None = None, **session: object):
    config: dict[str, object] = {
        "auth": {
            "session": {
                "cookie_name": COOKIE,
                "allowed_origins": [ORIGIN],
                "store": store,
                "client_id": "webapp",
                **session,
            }
        }
    }
    if redis_url:
        config["state"] = {"redis_url": redis_url}
    bff = make_bff(config)

    @bff.post("/login", auth=False)
    async def login(request: Request) -> Response:
        manager = request.sessions
        assert isinstance(manager, SessionManager)
        await manager.discard_presented(request)
        session_id, session = await manager.create("u1")
        response = json_response({"csrf": session.csrf_token})
        response.headers.append(("set-cookie", manager.cookie(session_id)))
        return response

    @bff.route("DELETE", "/login")
    async def logout(request: Request) -> Response:
        assert request.principal is not None
        assert request.sessions is not None
        await request.sessions.end(request.principal.session_id)
        return Response(204)

    @bff.get("/me")
    async def me(request: Request) -> Response:
        p = request.principal
        assert p is not None
        return json_response({"sub": p.subject, "client_id": p.client_id, "by": p.credential})

    @bff.post("/like")
    async def like(request: Request) -> Response:
        return json_response({"liked": True})

    @bff.get("/sessions-held", auth=False)
    async def sessions_held(request: Request) -> Response:
        assert request.sessions is not None
        store = request.sessions.store
        assert isinstance(store, MemorySessionStore)
        return json_response({"held": len(store)})

    return bff


async def _login(bff, headers: dict[str, str] | None = None) -> tuple[str, str, str]:
    response = await call(bff, "POST", "/login", headers=headers or {})
    set_cookie = response.header("set-cookie")
    assert set_cookie is not None
    session_id = read_cookie(set_cookie.split(";")[0], COOKIE)
    assert session_id
    return session_id, body_json(response)["csrf"], set_cookie


def _cookie(session_id: str) -> dict[str, str]:
    return {"cookie": f"theme=dark; {COOKIE}={session_id}"}


async def test_a_session_cookie_authenticates_the_user_of_the_session(make_bff):
    bff = _bff(make_bff)
    session_id, _, _ = await _login(bff)
    response = await call(bff, path="/me", headers=_cookie(session_id))
    assert body_json(response) == {"sub": "u1", "client_id": "webapp", "by": "session"}


async def test_the_cookie_is_host_prefixed_httponly_samesite_lax_secure_path_root(make_bff):
    _, _, set_cookie = await _login(_bff(make_bff))
    attributes = {a.strip().split("=")[0] for a in set_cookie.split(";")[1:]}
    assert set_cookie.startswith("__Host-")
    assert {"Path", "HttpOnly", "SameSite", "Secure"} <= attributes
    assert "SameSite=Lax" in set_cookie and "Path=/;" in set_cookie
    assert "Domain" not in attributes


async def test_login_issues_a_new_id_and_forgets_one_planted_before_it(make_bff):
    bff = _bff(make_bff)
    planted, _, _ = await _login(bff)  # an attacker's own session id, planted in the victim
    fresh, _, _ = await _login(bff, _cookie(planted))
    assert fresh != planted
    assert_problem(await call(bff, path="/me", headers=_cookie(planted)), 401)


async def test_an_unsafe_request_without_the_csrf_token_is_a_403(make_bff):
    bff = _bff(make_bff)
    session_id, _, _ = await _login(bff)
    headers = {**_cookie(session_id), "origin": ORIGIN}
    assert_problem(await call(bff, "POST", "/like", headers=headers, body=b""), 403)


async def test_an_unsafe_request_from_a_foreign_origin_is_a_403_even_with_the_token(make_bff):
    bff = _bff(make_bff)
    session_id, csrf, _ = await _login(bff)
    headers = {**_cookie(session_id), "origin": "https://evil.example", "x-csrf-token": csrf}
    assert_problem(await call(bff, "POST", "/like", headers=headers, body=b""), 403)


async def test_an_unsafe_request_without_origin_or_referer_is_a_403(make_bff):
    bff = _bff(make_bff)
    session_id, csrf, _ = await _login(bff)
    headers = {**_cookie(session_id), "x-csrf-token": csrf}
    assert_problem(await call(bff, "POST", "/like", headers=headers, body=b""), 403)


async def test_same_origin_with_the_token_passes(make_bff):
    bff = _bff(make_bff)
    session_id, csrf, _ = await _login(bff)
    headers = {**_cookie(session_id), "origin": ORIGIN, "x-csrf-token": csrf}
    assert (await call(bff, "POST", "/like", headers=headers, body=b"")).status == 200


async def test_a_same_origin_referer_stands_in_for_a_missing_origin(make_bff):
    bff = _bff(make_bff)
    session_id, csrf, _ = await _login(bff)
    headers = {**_cookie(session_id), "referer": f"{ORIGIN}/page", "x-csrf-token": csrf}
    assert (await call(bff, "POST", "/like", headers=headers, body=b"")).status == 200


@pytest.mark.parametrize(
    "value", ["", "short", "x" * 43 + "!", "A" * 4000, "%00%00", "../../etc/passwd"]
)
async def test_a_malformed_or_unknown_session_cookie_is_a_401_not_a_500(make_bff, value):
    bff = _bff(make_bff)
    assert_problem(await call(bff, path="/me", headers={"cookie": f"{COOKIE}={value}"}), 401)


async def test_a_session_the_store_does_not_know_is_a_401_that_clears_the_cookie(make_bff):
    bff = _bff(make_bff)
    session_id, csrf, _ = await _login(bff)
    headers = {**_cookie(session_id), "origin": ORIGIN, "x-csrf-token": csrf}
    assert (await call(bff, "DELETE", "/login", headers=headers)).status == 204
    response = await call(bff, path="/me", headers=_cookie(session_id))
    assert_problem(response, 401)
    assert response.header("set-cookie") == (
        f"{COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Secure; Max-Age=0"
    )


async def test_a_malformed_session_cookie_is_refused_without_clearing_anything(make_bff):
    bff = _bff(make_bff)
    response = await call(bff, path="/me", headers={"cookie": f"{COOKIE}=forged"})
    assert_problem(response, 401)
    assert response.header("set-cookie") is None


async def _sessions_held(bff) -> int:
    return int(body_json(await call(bff, path="/sessions-held"))["held"])


async def test_many_logins_do_not_grow_the_memory_store_past_its_bound(make_bff):
    bff = _bff(make_bff, max_sessions=5)
    for _ in range(20):
        await _login(bff)
    assert await _sessions_held(bff) == 5


async def test_past_the_bound_the_oldest_session_is_evicted_and_the_newest_kept(make_bff):
    bff = _bff(make_bff, max_sessions=2)
    first, _, _ = await _login(bff)
    for _ in range(2):
        newest, _, _ = await _login(bff)
    assert (await call(bff, path="/me", headers=_cookie(first))).status == 401
    assert (await call(bff, path="/me", headers=_cookie(newest))).status == 200


async def test_expired_sessions_never_read_again_are_swept_at_the_next_login(make_bff):
    # A TTL this short has passed by the next login: the clock is the behaviour under test.
    bff = _bff(make_bff, ttl_s=1e-6)
    for _ in range(20):
        await _login(bff)
    assert await _sessions_held(bff) <= 1  # at most the one just created


def test_a_session_bound_below_one_is_a_config_error_naming_the_key() -> None:
    with pytest.raises(ConfigError, match=r"auth\.session\.max_sessions"):
        build_config({"name": "w", "auth": {"session": {"max_sessions": 0}}})


async def test_a_session_ended_at_logout_is_refused_afterwards(make_bff):
    bff = _bff(make_bff)
    session_id, csrf, _ = await _login(bff)
    headers = {**_cookie(session_id), "origin": ORIGIN, "x-csrf-token": csrf}
    assert (await call(bff, "DELETE", "/login", headers=headers)).status == 204
    assert_problem(await call(bff, path="/me", headers=_cookie(session_id)), 401)


async def test_a_logout_on_one_instance_ends_the_session_on_another_with_redis(make_bff, redis_url):
    one = _bff(make_bff, "redis", redis_url)
    two = _bff(make_bff, "redis", redis_url)
    session_id, csrf, _ = await _login(one)
    assert (await call(two, path="/me", headers=_cookie(session_id))).status == 200
    headers = {**_cookie(session_id), "origin": ORIGIN, "x-csrf-token": csrf}
    assert (await call(one, "DELETE", "/login", headers=headers)).status == 204
    assert_problem(await call(two, path="/me", headers=_cookie(session_id)), 401)


async def test_the_store_holds_a_hash_of_the_id_not_the_id(make_bff, redis_url):
    from redis.asyncio import Redis

    bff = _bff(make_bff, "redis", redis_url)
    session_id, _, _ = await _login(bff)
    client = Redis.from_url(redis_url)
    try:
        keys = [k.decode() async for k in client.scan_iter("tailor:session:*")]
    finally:
        await client.aclose()
    assert keys and all(session_id not in k for k in keys)


async def test_an_unreachable_session_store_is_a_503(make_bff, redis_server):
    from upstreams import closed_port

    bff = _bff(make_bff, "redis", f"redis://127.0.0.1:{closed_port()}/0")
    response = await call(bff, path="/me", headers=_cookie("A" * 43))
    assert_problem(response, 503)


async def test_a_login_while_the_session_store_is_unreachable_is_a_503_not_a_500(make_bff):
    from upstreams import closed_port

    bff = _bff(make_bff, "redis", f"redis://127.0.0.1:{closed_port()}/0")
    response = await call(bff, "POST", "/login")
    assert_problem(response, 503)
    assert response.header("retry-after") == "1"
