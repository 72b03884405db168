"""Authentication through the pipeline: bearer JWTs against a JWKS served by a real upstream."""

from __future__ import annotations

import asyncio
import hashlib
import hmac

import pytest
from cryptography.hazmat.primitives import serialization
from harness import (
    AUDIENCE,
    ISSUER,
    assert_problem,
    b64url,
    bearer,
    body_json,
    call,
    claims,
    craft,
    jwks,
    rsa_key,
    sign,
)
from upstreams import closed_port

from tailor import Request, Response, json_response

JWKS_PATH = "/.well-known/jwks.json"


def _bff(make_bff, accounts_url: str, **jwt_options):
    bff = make_bff(
        {
            "auth": {
                "jwt": {
                    "issuer": ISSUER,
                    "audience": AUDIENCE,
                    "jwks_upstream": "accounts",
                    **jwt_options,
                }
            },
            "upstreams": {"accounts": accounts_url},
        }
    )

    @bff.get("/me")
    async def me(request: Request) -> Response:
        assert request.principal is not None
        return json_response({"sub": request.principal.subject})

    @bff.get("/tracks/{id}")
    async def track(request: Request) -> Response:
        return json_response({})

    @bff.get("/public", auth=False)
    async def public(request: Request) -> Response:
        return json_response({"principal": request.principal is not None})

    return bff


@pytest.fixture
async def accounts(upstream):
    upstream.script("GET", JWKS_PATH, json=jwks("k1"))
    return upstream


async def _refused(bff, token: str) -> dict:
    response = await call(bff, "GET", "/me", headers=bearer(token))
    problem = assert_problem(response, 401)
    assert response.header(
        "www-authenticate",
    ).startswith("Bearer")
    return problem


async def test_valid_token_gives_the_handler_its_subject(make_bff, accounts) -> None:
    response = await call(_bff(make_bff, accounts.url), "GET", "/me", headers=bearer(sign("k1")))
    assert response.status == 200
    assert body_json(response) == {"sub": "u42"}


async def test_missing_token_is_a_401_with_a_bearer_challenge(make_bff, accounts) -> None:
    response = await call(_bff(make_bff, accounts.url), "GET", "/me")
    assert_problem(response, 401)
    assert response.header("www-authenticate") == 'Bearer realm="test"'


async def test_non_bearer_scheme_is_a_401(make_bff, accounts) -> None:
    response = await call(
        _bff(make_bff, accounts.url), "GET", "/me", headers={"authorization": "Basic dTpw"}
    )
    assert_problem(response, 401)


async def test_route_without_auth_needs_no_token(make_bff, accounts) -> None:
    response = await call(_bff(make_bff, accounts.url), "GET", "/public")
    assert body_json(response) == {"principal": False}
    assert accounts.received() == []


async def test_anonymous_caller_gets_401_before_parameter_checks(make_bff, accounts) -> None:
    response = await call(_bff(make_bff, accounts.url), "GET", "/tracks/a.b")
    assert_problem(response, 401)


@pytest.mark.parametrize(
    "override",
    [
        {"aud": "someone-else"},
        {"iss": "evil-issuer"},
        {"exp": 1_000_000},  # long expired, far beyond the leeway
        {"nbf": 4_000_000_000},  # not valid before a date far in the future
        {"exp": None},  # no expiry at all
        {"sub": None},
    ],
    ids=["wrong-aud", "wrong-iss", "expired", "nbf-future", "missing-exp", "missing-sub"],
)
async def test_token_with_a_bad_claim_is_a_401(make_bff, accounts, override) -> None:
    problem = await _refused(_bff(make_bff, accounts.url), sign("k1", **override))
    # the reason stays in the server log; the client learns only that the token is refused
    for leak in ("audience", "issuer", "expired", "Signature", "exp", "sub"):
        assert leak not in problem["detail"], problem["detail"]


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
async def test_alg_none_in_any_casing_is_a_401(make_bff, accounts, alg) -> None:
    await _refused(_bff(make_bff, accounts.url), craft({"alg": alg, "kid": "k1"}, claims()))


async def test_hs256_signed_with_the_public_key_as_secret_is_a_401(make_bff, accounts) -> None:
    pem = (
        rsa_key("k1")
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    unsigned = craft({"alg": "HS256", "kid": "k1", "typ": "JWT"}, claims()).rsplit(".", 1)[0]
    mac = hmac.new(pem, unsigned.encode(), hashlib.sha256).digest()
    await _refused(_bff(make_bff, accounts.url), f"{unsigned}.{b64url(mac)}")


async def test_token_signed_by_another_key_under_a_known_kid_is_a_401(make_bff, accounts) -> None:
    import jwt

    forged = jwt.encode(claims(), rsa_key("intruder"), algorithm="RS256", headers={"kid": "k1"})
    await _refused(_bff(make_bff, accounts.url), forged)


@pytest.mark.parametrize(
    "token",
    ["garbage", "a.b", "a.b.c", "!!!.###.$$$", "....", "eyJhbGciOiJSUzI1NiJ9", " "],
)
async def test_malformed_token_string_is_a_401_not_a_500(make_bff, accounts, token) -> None:
    response = await call(
        _bff(make_bff, accounts.url), "GET", "/me", headers={"authorization": f"Bearer {token}"}
    )
    assert_problem(response, 401)


async def test_token_header_that_is_not_an_object_is_a_401(make_bff, accounts) -> None:
    token = f"{b64url(b'[1,2]')}.{b64url(b'{}')}.{b64url(b'x')}"
    await _refused(_bff(make_bff, accounts.url), token)


async def test_jku_header_is_refused_and_never_followed(make_bff, accounts, scripted) -> None:
    attacker = await scripted()
    attacker.script("GET", "/jwks.json", json=jwks("k1"))
    token = sign("k1", headers={"jku": f"{attacker.url}/jwks.json"})
    await _refused(_bff(make_bff, accounts.url), token)
    assert attacker.received() == []


async def test_unknown_kid_refreshes_the_jwks_once_then_accepts_a_rotated_key(
    make_bff, accounts
) -> None:
    bff = _bff(make_bff, accounts.url, jwks_refresh_min_interval_s=0.0)
    assert (await call(bff, "GET", "/me", headers=bearer(sign("k1")))).status == 200
    assert len(accounts.received(JWKS_PATH)) == 1
    accounts.script("GET", JWKS_PATH, json=jwks("k1", "k2"))  # the issuer rotates keys
    response = await call(bff, "GET", "/me", headers=bearer(sign("k2", sub="u7")))
    assert response.status == 200
    assert body_json(response) == {"sub": "u7"}
    assert len(accounts.received(JWKS_PATH)) == 2


async def test_flood_of_unknown_kids_fetches_the_jwks_at_most_once_per_interval(
    make_bff, accounts
) -> None:
    bff = _bff(make_bff, accounts.url, jwks_refresh_min_interval_s=30.0)
    tokens = [sign("k1", headers={"kid": f"unknown-{i}"}) for i in range(25)]
    responses = await asyncio.gather(*(call(bff, "GET", "/me", headers=bearer(t)) for t in tokens))
    assert {r.status for r in responses} == {401}
    assert len(accounts.received(JWKS_PATH)) == 1
    more = await call(bff, "GET", "/me", headers=bearer(sign("k1", headers={"kid": "zzz"})))
    assert more.status == 401
    assert len(accounts.received(JWKS_PATH)) == 1


async def test_jwks_upstream_down_is_a_503_problem(make_bff) -> None:
    bff = _bff(make_bff, f"http://127.0.0.1:{closed_port()}")
    response = await call(bff, "GET", "/me", headers=bearer(sign("k1")))
    assert_problem(response, 503)
    assert response.header("retry-after")


async def test_jwks_upstream_answering_500_is_a_503_problem(make_bff, upstream) -> None:
    upstream.script("GET", JWKS_PATH, status=500, json={})
    response = await call(_bff(make_bff, upstream.url), "GET", "/me", headers=bearer(sign("k1")))
    assert_problem(response, 503)


async def test_malformed_jwks_is_a_503_problem(make_bff, upstream) -> None:
    upstream.script("GET", JWKS_PATH, body=b"{not json")
    response = await call(_bff(make_bff, upstream.url), "GET", "/me", headers=bearer(sign("k1")))
    assert_problem(response, 503)


async def test_verified_token_is_not_verified_again(make_bff, accounts, monkeypatch) -> None:
    import tailor.auth.jws as tailor_jwt  # where the signature is checked

    decoded = []
    real_decode = tailor_jwt.jwt.decode

    def counting_decode(*args, **kwargs):
        decoded.append(args[0])
        return real_decode(*args, **kwargs)

    monkeypatch.setattr(tailor_jwt.jwt, "decode", counting_decode)
    bff = _bff(make_bff, accounts.url)
    token = sign("k1")
    for _ in range(3):
        assert (await call(bff, "GET", "/me", headers=bearer(token))).status == 200
    assert decoded == [token]
    assert (await call(bff, "GET", "/me", headers=bearer(sign("k1", sub="u9")))).status == 200
    assert len(decoded) == 2  # a different token is verified
