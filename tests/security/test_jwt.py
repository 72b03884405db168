"""Token attacks at every bearer edge (mobile, web, public): each is a 401 problem, and a
token naming its own key source makes the BFF fetch nothing."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import httpx
import pytest

from waveform.supervisor import Platform

from .conftest import AccountsKey, SilentListener, assert_denied, bearer

#: BFF -> (the audience it accepts, an authenticated GET)
EDGES = {
    "mobile": ("waveform-mobile", "/v1/tracks/t1"),
    "web": ("waveform-web", "/api/tracks/t1"),
    "public": ("waveform-public", "/v1/tracks/t1"),
}
CLIENT = {"mobile": "waveform-ios", "web": "waveform-webapp", "public": "acme-player"}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def craft(header: dict[str, object], claims: dict[str, object], signature: bytes = b"") -> str:
    head = b64url(json.dumps(header).encode())
    body = b64url(json.dumps(claims).encode())
    return f"{head}.{body}.{b64url(signature)}"


def _get(http: httpx.Client, platform: Platform, bff: str, token: str) -> httpx.Response:
    return http.get(f"{platform.url(bff)}{EDGES[bff][1]}", headers=bearer(token))


@pytest.fixture(params=sorted(EDGES))
def edge(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_a_correctly_signed_token_is_accepted_so_the_refusals_below_mean_something(
    platform: Platform, http: httpx.Client, accounts_key: AccountsKey, edge: str
) -> None:
    token = accounts_key.sign(EDGES[edge][0], client_id=CLIENT[edge])
    assert _get(http, platform, edge, token).status_code == 200


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
def test_alg_none_in_any_casing_is_refused(
    platform: Platform, http: httpx.Client, accounts_key: AccountsKey, edge: str, alg: str
) -> None:
    claims = accounts_key.claims(EDGES[edge][0], client_id=CLIENT[edge])
    token = craft({"alg": alg, "typ": "JWT", "kid": accounts_key.kid}, claims)
    assert_denied(_get(http, platform, edge, token), 401)


def test_hs256_signed_with_the_real_public_key_is_refused(
    platform: Platform, http: httpx.Client, accounts_key: AccountsKey, edge: str
) -> None:
    header = {"alg": "HS256", "typ": "JWT", "kid": accounts_key.kid}
    claims = accounts_key.claims(EDGES[edge][0], client_id=CLIENT[edge])
    signing_input = craft(header, claims).rsplit(".", 1)[0]
    mac = hmac.new(accounts_key.public_pem, signing_input.encode(), hashlib.sha256).digest()
    assert_denied(_get(http, platform, edge, f"{signing_input}.{b64url(mac)}"), 401)


def test_a_token_signed_by_another_key_under_the_real_kid_is_refused(
    platform: Platform, http: httpx.Client, accounts_key: AccountsKey, edge: str
) -> None:
    import jwt
    from cryptography.hazmat.primitives.asymmetric import rsa

    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    claims = accounts_key.claims(EDGES[edge][0], client_id=CLIENT[edge])
    token = jwt.encode(claims, forger, algorithm="RS256", headers={"kid": accounts_key.kid})
    assert_denied(_get(http, platform, edge, token), 401)


def test_a_token_with_a_tampered_payload_is_refused(
    platform: Platform, http: httpx.Client, accounts_key: AccountsKey, edge: str
) -> None:
    token = accounts_key.sign(EDGES[edge][0], client_id=CLIENT[edge], sub="u1")
    head, _, signature = token.split(".")
    claims = accounts_key.claims(EDGES[edge][0], client_id=CLIENT[edge], sub="u2")
    tampered = f"{head}.{b64url(json.dumps(claims).encode())}.{signature}"
    assert_denied(_get(http, platform, edge, tampered), 401)


@pytest.mark.parametrize(
    "name, claims",
    [
        ("expired", {"exp": int(time.time()) - 3600, "iat": int(time.time()) - 7200}),
        ("not yet valid", {"nbf": int(time.time()) + 3600}),
        ("missing exp", {"exp": None}),
        ("wrong issuer", {"iss": "evil-accounts"}),
        ("string exp", {"exp": "tomorrow"}),
        ("numeric string exp", {"exp": str(int(time.time()) + 600)}),
        ("lives longer than a day", {"exp": int(time.time()) + 2 * 86_400}),
    ],
)
def test_a_correctly_signed_token_with_one_bad_claim_is_refused(
    platform: Platform, http: httpx.Client, accounts_key: AccountsKey, edge: str,
    name: str, claims: dict[str, object],
) -> None:  # fmt: skip
    token = accounts_key.sign(EDGES[edge][0], client_id=CLIENT[edge], **claims)
    assert_denied(_get(http, platform, edge, token), 401)


@pytest.mark.parametrize(
    "edge, other", [(e, o) for e in sorted(EDGES) for o in sorted(EDGES) if e != o]
)
def test_a_token_for_another_audience_is_refused(
    platform: Platform, http: httpx.Client, accounts_key: AccountsKey, edge: str, other: str
) -> None:
    token = accounts_key.sign(EDGES[other][0], client_id=CLIENT[edge])
    assert_denied(_get(http, platform, edge, token), 401)


def test_a_real_web_login_token_is_refused_by_the_mobile_bff(
    platform: Platform, http: httpx.Client, web_token: str
) -> None:
    assert_denied(_get(http, platform, "mobile", web_token), 401)


def test_a_real_public_user_token_is_refused_by_the_mobile_bff(
    platform: Platform, http: httpx.Client, public_user_token: str
) -> None:
    assert_denied(_get(http, platform, "mobile", public_user_token), 401)


@pytest.mark.parametrize(
    "kid",
    [
        "../../../../etc/passwd",
        "..%2F..%2Faccounts-signing-key.pem",
        "' OR '1'='1' --",
        "k1; DROP TABLE signing_keys",
        "k" * 5000,
        "",
        "\u0000",
        "http://127.0.0.1:1/key",
    ],
)
def test_kid_path_injection_and_oversize_tricks_are_refused(
    platform: Platform, http: httpx.Client, accounts_key: AccountsKey, edge: str, kid: str
) -> None:
    token = accounts_key.sign(EDGES[edge][0], client_id=CLIENT[edge], headers={"kid": kid})
    assert_denied(_get(http, platform, edge, token), 401)


@pytest.mark.parametrize("field", ["jku", "x5u"])
def test_a_token_naming_a_key_url_is_refused_and_nothing_is_fetched(
    platform: Platform, http: httpx.Client, accounts_key: AccountsKey, edge: str,
    silent: SilentListener, field: str,
) -> None:  # fmt: skip
    token = accounts_key.sign(EDGES[edge][0], client_id=CLIENT[edge], headers={field: silent.url})
    assert_denied(_get(http, platform, edge, token), 401)
    assert silent.connections() == 0


def test_a_token_carrying_its_own_key_inline_is_refused(
    platform: Platform, http: httpx.Client, edge: str
) -> None:
    import jwt
    from cryptography.hazmat.primitives.asymmetric import rsa
    from jwt.algorithms import RSAAlgorithm

    attacker = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    inline = json.loads(RSAAlgorithm.to_jwk(attacker.public_key()))
    now = int(time.time())
    claims = {"iss": "waveform-accounts", "aud": EDGES[edge][0], "sub": "u1", "iat": now,
              "exp": now + 600, "client_id": CLIENT[edge]}  # fmt: skip
    token = jwt.encode(claims, attacker, algorithm="RS256", headers={"jwk": inline, "kid": "x"})
    assert_denied(_get(http, platform, edge, token), 401)


@pytest.mark.parametrize(
    "value",
    ["Bearer", "Bearer a.b", "Bearer a.b.c", "Bearer ....", "Bearer %%%.x.y",
     "Bearer " + "A" * 6000, "Bearer eyJhbGciOiJSUzI1NiJ9.e30.", "Basic Zm9vOmJhcg=="],
)  # fmt: skip
def test_a_malformed_authorization_header_is_a_401_never_a_500(
    platform: Platform, http: httpx.Client, edge: str, value: str
) -> None:
    response = http.get(f"{platform.url(edge)}{EDGES[edge][1]}", headers={"authorization": value})
    assert_denied(response, 401)


def test_an_internal_service_token_is_refused_at_every_edge(
    platform: Platform, http: httpx.Client, edge: str
) -> None:
    internal = platform.internal_token("catalog", "u1")
    assert_denied(_get(http, platform, edge, internal), 401)
