"""Bad input gets a clear problem+json with the right status, through the real servers."""

from __future__ import annotations

import httpx
import pytest

from waveform.supervisor import Platform

from .caller import Caller

PROBLEM = "application/problem+json"


def _is_problem(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, object] = response.json()
    assert body["status"] == status and body["title"]
    assert "Traceback" not in response.text
    return body


@pytest.mark.parametrize("bff", ["mobile", "web"])
def test_an_unknown_route_is_a_404_problem(
    platform: Platform, http: httpx.Client, bff: str
) -> None:
    _is_problem(http.get(f"{platform.url(bff)}/no/such/route"), 404)


@pytest.mark.parametrize("caller, prefix", [("mobile_alice", "/v1"), ("web_alice", "/api")])
def test_a_malformed_path_parameter_is_a_400_naming_it(
    request: pytest.FixtureRequest, caller: str, prefix: str
) -> None:
    body = _is_problem(request.getfixturevalue(caller).get(f"{prefix}/tracks/t1%00..x"), 400)
    assert body["parameter"] == "id"


def test_a_malformed_cursor_is_a_400_naming_it(web_alice: Caller) -> None:
    body = _is_problem(web_alice.get("/api/stream?cursor=%27%20OR%201%3D1"), 400)
    assert body["parameter"] == "cursor"


#: Well-formed tokens, so the BFF's own check passes them on; no service issued them.
NOT_ISSUED = ["a", "W10", "bm90LWpzb24"]


@pytest.mark.parametrize("cursor", NOT_ISSUED)
def test_a_stream_cursor_the_service_did_not_issue_is_a_400_naming_it(
    web_alice: Caller, cursor: str
) -> None:
    body = _is_problem(web_alice.get(f"/api/stream?cursor={cursor}"), 400)
    assert body["parameter"] == "cursor"


@pytest.mark.parametrize("bff, path", [("mobile", "/v1/home"), ("web", "/api/me")])
def test_a_missing_token_is_a_401_with_a_bearer_challenge(
    platform: Platform, http: httpx.Client, bff: str, path: str
) -> None:
    response = http.get(f"{platform.url(bff)}{path}")
    _is_problem(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_a_garbage_token_is_a_401_not_a_500(platform: Platform, http: httpx.Client) -> None:
    response = http.get(
        f"{platform.url('mobile')}/v1/home", headers={"authorization": "Bearer not.a.jwt"}
    )
    _is_problem(response, 401)
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


@pytest.mark.parametrize(
    "caller, bff, path",
    [("web_alice", "mobile", "/v1/home"), ("mobile_alice", "tv", "/v1/screens/home")],
)
def test_a_token_for_another_bff_is_a_401_problem(
    platform: Platform,
    http: httpx.Client,
    request: pytest.FixtureRequest,
    caller: str,
    bff: str,
    path: str,
) -> None:
    token = request.getfixturevalue(caller).token  # signed for that BFF's audience
    response = http.get(f"{platform.url(bff)}{path}", headers={"authorization": f"Bearer {token}"})
    _is_problem(response, 401)


def test_a_wrong_password_and_an_unknown_user_get_the_same_401(
    platform: Platform, http: httpx.Client
) -> None:
    url = f"{platform.url('mobile')}/v1/auth/token"
    wrong = http.post(url, json={"grant_type": "password", "username": "alice", "password": "x"})
    unknown = http.post(url, json={"grant_type": "password", "username": "nobody", "password": "x"})
    assert _is_problem(wrong, 401)["detail"] == _is_problem(unknown, 401)["detail"]


@pytest.mark.parametrize(
    "body, parameter",
    [
        (b'{"grant_type": "password", "username": "alice"}', "password"),
        (b'{"grant_type": "magic", "username": "alice", "password": "x"}', "grant_type"),
    ],
)
def test_a_malformed_token_request_is_a_400_naming_the_field(
    platform: Platform, http: httpx.Client, body: bytes, parameter: str
) -> None:
    response = http.post(
        f"{platform.url('mobile')}/v1/auth/token",
        content=body,
        headers={"content-type": "application/json"},
    )
    assert _is_problem(response, 400)["parameter"] == parameter


def test_a_token_request_that_is_not_json_is_a_400(platform: Platform, http: httpx.Client) -> None:
    response = http.post(
        f"{platform.url('mobile')}/v1/auth/token",
        content=b"{not json",
        headers={"content-type": "application/json"},
    )
    _is_problem(response, 400)


def test_an_oversized_body_is_a_413(platform: Platform, http: httpx.Client) -> None:
    response = http.post(
        f"{platform.url('mobile')}/v1/auth/token",
        content=b"x" * (65 * 1024),
        headers={"content-type": "application/json"},
    )
    _is_problem(response, 413)


def test_metrics_are_on_the_admin_listener_and_not_on_the_public_one(
    platform: Platform, http: httpx.Client, mobile_alice: Caller
) -> None:
    mobile_alice.get("/v1/home")
    _is_problem(http.get(f"{platform.url('mobile')}/metrics"), 404)
    metrics = http.get(f"{platform.admin_url('mobile')}/metrics").text
    assert 'tailor_requests_total{method="GET",route="/v1/home",status="200"}' in metrics
    assert 'tailor_upstream_requests_total{outcome="ok",upstream="catalog"}' in metrics


@pytest.mark.parametrize("bff, path", [("web", "/api/session"), ("mobile", "/v1/auth/token")])
def test_a_login_in_a_media_type_it_does_not_take_is_a_415_problem(
    platform: Platform, http: httpx.Client, bff: str, path: str
) -> None:
    base = platform.url(bff)
    response = http.post(
        f"{base}{path}", content=b"username=alice", headers={"content-type": "text/plain",
                                                             "origin": base},
    )  # fmt: skip
    _is_problem(response, 415)


def test_a_login_that_is_not_json_is_a_400_problem(platform: Platform, http: httpx.Client) -> None:
    base = platform.url("web")
    response = http.post(
        f"{base}/api/session", content=b"{not json",
        headers={"content-type": "application/json", "origin": base},
    )  # fmt: skip
    _is_problem(response, 400)
