"""JWTVerifier in isolation, with the JWKS fetch as a counting function."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from harness import AUDIENCE, ISSUER, jwk, jwks, sign

from tailor.auth.jwt import BearerJWTAuthenticator, InvalidToken, JWTVerifier, KeysUnavailable
from tailor.config import JWTAuth
from tailor.errors import UpstreamUnavailable
from tailor.http import Request


class Issuer:
    """Serves a JWKS document and counts fetches."""

    def __init__(self, document: dict) -> None:
        self.document = document
        self.fetches = 0
        self.fail = False

    async def fetch(self) -> bytes:
        self.fetches += 1
        if self.fail:
            raise UpstreamUnavailable("accounts", "connection failed")
        return json.dumps(self.document).encode()


def _verifier(issuer: Issuer, **options) -> JWTVerifier:
    settings = JWTAuth(issuer=ISSUER, audience=AUDIENCE, jwks_upstream="accounts", **options)
    return JWTVerifier(settings, issuer.fetch)


async def test_valid_token_yields_subject_scopes_and_expiry() -> None:
    exp = int(time.time()) + 300
    principal = await _verifier(Issuer(jwks("k1"))).verify(
        sign("k1", scope="read write", client_id="app-1", exp=exp)
    )
    assert principal.subject == "u42"
    assert principal.scopes == {"read", "write"}
    assert principal.client_id == "app-1"
    assert principal.expires_at == exp


async def test_keys_are_fetched_once_for_many_tokens() -> None:
    issuer = Issuer(jwks("k1"))
    verifier = _verifier(issuer)
    await asyncio.gather(*(verifier.verify(sign("k1", sub=f"u{i}")) for i in range(10)))
    assert issuer.fetches == 1


async def test_key_published_for_another_algorithm_is_not_used() -> None:
    key = jwk("k1")
    key["alg"] = "RS512"
    with pytest.raises(InvalidToken):
        await _verifier(Issuer({"keys": [key]})).verify(sign("k1"))


@pytest.mark.parametrize("header", ["x5u", "jwk", "x5c"])
async def test_token_naming_its_own_key_source_is_refused(header: str) -> None:
    issuer = Issuer(jwks("k1"))
    with pytest.raises(InvalidToken):
        await _verifier(issuer).verify(sign("k1", headers={header: "https://evil/"}))
    assert issuer.fetches == 0  # refused before any key is looked up


@pytest.mark.parametrize("kid", [None, "", "../../etc/passwd", "k" * 200])
async def test_missing_or_malformed_kid_is_refused_without_a_fetch(kid) -> None:
    import jwt
    from harness import claims, rsa_key

    headers = {} if kid is None else {"kid": kid}
    token = jwt.encode(claims(), rsa_key("k1"), algorithm="RS256", headers=headers)
    issuer = Issuer(jwks("k1"))
    with pytest.raises(InvalidToken):
        await _verifier(issuer).verify(token)
    assert issuer.fetches == 0


@pytest.mark.parametrize("claim", ["exp", "nbf", "iat"])
async def test_a_date_claim_written_as_a_numeric_string_is_refused(claim: str) -> None:
    now = int(time.time())
    dates = {"iat": now - 10, "nbf": now - 10, "exp": now + 300}
    dates[claim] = str(dates[claim])  # type: ignore[assignment]
    with pytest.raises(InvalidToken, match=f"{claim} is not a NumericDate"):
        await _verifier(Issuer(jwks("k1"))).verify(sign("k1", **dates))


async def test_a_token_living_longer_than_max_lifetime_is_refused() -> None:
    now = int(time.time())
    token = sign("k1", iat=now, exp=now + 3601)
    with pytest.raises(InvalidToken, match="lives too long"):
        await _verifier(Issuer(jwks("k1")), max_lifetime_s=3600).verify(token)


async def test_a_token_living_exactly_max_lifetime_is_accepted() -> None:
    now = int(time.time())
    token = sign("k1", iat=now, exp=now + 3600)
    principal = await _verifier(Issuer(jwks("k1")), max_lifetime_s=3600).verify(token)
    assert principal.expires_at == now + 3600


async def test_a_token_living_longer_than_a_day_is_refused_by_default() -> None:
    now = int(time.time())
    with pytest.raises(InvalidToken, match="lives too long"):
        await _verifier(Issuer(jwks("k1"))).verify(sign("k1", iat=now, exp=now + 86_401))


async def test_unreachable_jwks_raises_keys_unavailable() -> None:
    issuer = Issuer(jwks("k1"))
    issuer.fail = True
    with pytest.raises(KeysUnavailable):
        await _verifier(issuer).verify(sign("k1"))


async def test_a_flood_of_made_up_kids_while_the_issuer_is_down_makes_one_fetch() -> None:
    # Timing of the retry after a failure: tests/tailor/auth/test_keyset.py.
    issuer = Issuer(jwks("k1"))
    issuer.fail = True
    verifier = _verifier(issuer)
    tokens = [sign(f"made-up-{i}", sub=f"u{i}") for i in range(20)]
    outcomes = await asyncio.gather(*map(verifier.verify, tokens), return_exceptions=True)
    outcomes += await asyncio.gather(*map(verifier.verify, tokens), return_exceptions=True)
    assert all(isinstance(o, KeysUnavailable) for o in outcomes)
    assert issuer.fetches == 1


async def test_cached_token_is_verified_again_once_it_expires(monkeypatch) -> None:
    import tailor.auth.jws as tailor_jwt  # where the signature is checked

    decoded: list[str] = []
    real_decode = tailor_jwt.jwt.decode

    def counting_decode(token, *args, **kwargs):
        decoded.append(token)
        return real_decode(token, *args, **kwargs)

    monkeypatch.setattr(tailor_jwt.jwt, "decode", counting_decode)
    verifier = _verifier(Issuer(jwks("k1")), leeway_s=0.0)
    token = sign("k1")
    await verifier.verify(token)
    await verifier.verify(token)
    assert len(decoded) == 1  # the second call was a cache hit
    # Move the cached entry's expiry into the past instead of waiting for the clock.
    cached = verifier._cache[token]
    verifier._cache[token] = type(cached)(
        cached.subject, cached.scopes, cached.client_id, time.time() - 10
    )
    await verifier.verify(token)
    assert len(decoded) == 2


async def test_cache_is_bounded_by_cache_size() -> None:
    verifier = _verifier(Issuer(jwks("k1")), cache_size=3)
    for i in range(5):
        await verifier.verify(sign("k1", sub=f"u{i}"))
    assert len(verifier._cache) == 3


async def test_a_configured_jwks_retry_after_failure_reaches_the_key_set() -> None:
    # The default (1 s) allows no second fetch for a second after a failed one; configured to
    # 1 ms, a new made-up kid fetches again well within the bound below.
    issuer = Issuer(jwks("k1"))
    issuer.fail = True
    verifier = _verifier(issuer, jwks_refresh_min_interval_s=0, jwks_retry_after_failure_s=0.001)
    deadline = time.monotonic() + 0.5
    attempt = 0
    while issuer.fetches < 2 and time.monotonic() < deadline:
        attempt += 1
        with pytest.raises(KeysUnavailable):
            await verifier.verify(sign("k1", headers={"kid": f"made-up-{attempt}"}))
        await asyncio.sleep(0.005)
    assert issuer.fetches >= 2


def _with_authorization(value: str) -> Request:
    return Request("GET", "/v1/home", "", {"authorization": value}, "127.0.0.1")


async def test_known_answers_a_verified_bearer_token_without_waiting() -> None:
    authenticator = BearerJWTAuthenticator(_verifier(Issuer(jwks("k1"))), "test")
    token = sign("k1")
    verified = await authenticator.authenticate(_with_authorization(f"Bearer {token}"))
    assert authenticator.known(_with_authorization(f"bearer  {token} ")) is verified


@pytest.mark.parametrize("value", ["", "Bearer ", "Basic dTpw", "Bearer not-verified-yet"])
async def test_known_leaves_anything_but_a_verified_token_to_authenticate(value: str) -> None:
    authenticator = BearerJWTAuthenticator(_verifier(Issuer(jwks("k1"))), "test")
    assert authenticator.known(_with_authorization(value)) is None
