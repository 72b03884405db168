"""Browser-session attacks on the web BFF: fixation, cross-site requests, replay after logout
(on the same instance and on another one sharing the Redis session store)."""

from __future__ import annotations

import socket

import httpx

from waveform.supervisor import Platform

from .conftest import ExtraBFF, assert_denied

COOKIE = "waveform-session"  # the plain-http demo name (docs/security.md)


def _login(http: httpx.Client, base: str, cookie: str | None = None,
           origin: str | None = None) -> httpx.Response:  # fmt: skip
    headers = {"origin": origin or base}
    if cookie:
        headers["cookie"] = f"{COOKIE}={cookie}"
    return http.post(f"{base}/api/session", json={"username": "alice",
                     "password": "wave-alice"}, headers=headers)  # fmt: skip


def _session(response: httpx.Response) -> tuple[str, str]:
    assert response.status_code == 200, response.text
    set_cookie = response.headers["set-cookie"]
    name, _, rest = set_cookie.partition("=")
    assert name == COOKIE
    return rest.split(";")[0], response.json()["csrf_token"]


def _as(session_id: str, **extra: str) -> dict[str, str]:
    return {"cookie": f"{COOKIE}={session_id}", **extra}


def test_a_login_session_works_so_the_refusals_below_mean_something(
    platform: Platform, http: httpx.Client
) -> None:
    session_id, _ = _session(_login(http, platform.url("web")))
    assert http.get(f"{platform.url('web')}/api/me", headers=_as(session_id)).status_code == 200


def test_session_fixation_a_planted_id_is_never_adopted(
    platform: Platform, http: httpx.Client
) -> None:
    base = platform.url("web")
    planted, _ = _session(_login(http, base))  # the attacker's own valid session
    victim, _ = _session(_login(http, base, cookie=planted))
    assert victim != planted
    assert_denied(http.get(f"{base}/api/me", headers=_as(planted)), 401)


def test_session_fixation_an_invented_id_is_never_adopted(
    platform: Platform, http: httpx.Client
) -> None:
    base = platform.url("web")
    invented = "A" * 43
    victim, _ = _session(_login(http, base, cookie=invented))
    assert victim != invented
    assert_denied(http.get(f"{base}/api/me", headers=_as(invented)), 401)


def test_csrf_an_unsafe_request_from_a_foreign_origin_is_refused(
    platform: Platform, http: httpx.Client
) -> None:
    base = platform.url("web")
    session_id, csrf = _session(_login(http, base))
    forged = _as(session_id, origin="https://evil.example", **{"x-csrf-token": csrf})
    assert_denied(http.delete(f"{base}/api/session", headers=forged), 403)
    assert http.get(f"{base}/api/me", headers=_as(session_id)).status_code == 200


def test_csrf_an_allowed_origin_with_whitespace_after_it_is_accepted(platform: Platform) -> None:
    # Raw bytes: an HTTP client library would not send the trailing whitespace.
    host, _, port = platform.url("web").removeprefix("http://").partition(":")
    body = b'{"username": "alice", "password": "wave-alice"}'
    head = (
        f"POST /api/session HTTP/1.1\r\nhost: {host}:{port}\r\n"
        f"origin: {platform.url('web')} \t\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head.encode() + body)
        answer = b"".join(iter(lambda: sock.recv(65536), b""))
    assert answer.startswith(b"HTTP/1.1 200 "), answer[:200]


def test_csrf_an_unsafe_request_without_the_token_is_refused(
    platform: Platform, http: httpx.Client
) -> None:
    base = platform.url("web")
    session_id, _ = _session(_login(http, base))
    assert_denied(http.delete(f"{base}/api/session", headers=_as(session_id, origin=base)), 403)


def test_csrf_a_login_posted_from_a_foreign_origin_is_refused(
    platform: Platform, http: httpx.Client
) -> None:
    assert_denied(_login(http, platform.url("web"), origin="https://evil.example"), 403)


def test_replay_after_logout_is_refused_on_the_same_instance(
    platform: Platform, http: httpx.Client
) -> None:
    base = platform.url("web")
    session_id, csrf = _session(_login(http, base))
    out = http.delete(f"{base}/api/session",
                      headers=_as(session_id, origin=base, **{"x-csrf-token": csrf}))  # fmt: skip
    assert out.status_code == 204
    assert_denied(http.get(f"{base}/api/me", headers=_as(session_id)), 401)


def test_replay_after_logout_is_refused_on_another_instance(
    platform: Platform, http: httpx.Client, second_web: ExtraBFF
) -> None:
    base = platform.url("web")
    session_id, csrf = _session(_login(http, base))
    assert http.get(f"{second_web.url}/api/me", headers=_as(session_id)).status_code == 200
    out = http.delete(f"{base}/api/session",
                      headers=_as(session_id, origin=base, **{"x-csrf-token": csrf}))  # fmt: skip
    assert out.status_code == 204
    assert_denied(http.get(f"{second_web.url}/api/me", headers=_as(session_id)), 401)


def test_a_malformed_cookie_is_a_401_never_a_500(platform: Platform, http: httpx.Client) -> None:
    for value in ("", "x", "%ff%fe", "A" * 3000, '"quoted"', "a=b=c"):
        response = http.get(f"{platform.url('web')}/api/me", headers=_as(value))
        assert_denied(response, 401)


def test_a_wrong_password_and_an_unknown_user_get_the_same_denial(
    platform: Platform, http: httpx.Client
) -> None:
    base = platform.url("web")
    answers = [
        http.post(
            f"{base}/api/session",
            json={"username": name, "password": "nope"},
            headers={"origin": base},
        )
        for name in ("alice", "nobody-at-all")
    ]
    assert assert_denied(answers[0], 401) == assert_denied(answers[1], 401)


def test_a_cookie_of_an_ended_session_is_a_401_that_clears_it(
    platform: Platform, http: httpx.Client
) -> None:
    base = platform.url("web")
    session_id, csrf = _session(_login(http, base))
    out = http.delete(f"{base}/api/session",
                      headers=_as(session_id, origin=base, **{"x-csrf-token": csrf}))  # fmt: skip
    assert out.status_code == 204
    stale = http.get(f"{base}/api/me", headers=_as(session_id))
    assert_denied(stale, 401)
    assert stale.headers["set-cookie"] == f"{COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0"
