"""Internal tokens: the exchange client, its cache, the inward credentials, the verifier.

The token service is scripted at the transport seam (MockTransport); keys are real ES256.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any
from urllib.parse import parse_qs

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from tailor.auth.internal import (
    MIN_VALIDITY_S,
    RENEW_RETRY_S,
    InternalKeysUnavailable,
    InternalTokenVerifier,
    InvalidInternalToken,
    TokenCache,
    TokenExchangeCredentials,
    TokenExchangeError,
    TokenExchanger,
    build_inward_credentials,
    transport_poster,
)
from tailor.auth.principal import Principal
from tailor.config import TokenExchange
from tailor.errors import UpstreamUnavailable
from tailor.observe.metrics import Metrics
from tailor.upstream.mock import MockTransport
from tailor.upstream.registry import ServiceRegistry
from tailor.upstream.transport import UpstreamRequest, UpstreamResponse

REGISTRY = ServiceRegistry({"tokens": "http://127.0.0.1:9", "users": "http://127.0.0.1:8"})


class TokenService:
    """Answers exchanges like the real one: one token per request, counted."""

    def __init__(self, expires_in: float = 60) -> None:
        self.expires_in = expires_in
        self.requests: list[dict[str, list[str]]] = []
        self.headers: list[dict[str, str]] = []
        self.status = 200
        self.down = False
        self.gate: asyncio.Event | None = None

    async def answer(self, request: UpstreamRequest) -> UpstreamResponse:
        if self.gate is not None:
            await self.gate.wait()
        if self.down:
            raise UpstreamUnavailable("tokens", "connection failed")
        assert request.body is not None
        form = parse_qs(request.body.decode())
        self.requests.append(form)
        self.headers.append(dict(request.headers))
        if self.status != 200:
            return UpstreamResponse(self.status, {}, b'{"error": "invalid_target"}')
        token = f"tok-{form['subject_token'][0]}-{form['audience'][0]}-{len(self.requests)}"
        body = {"access_token": token, "expires_in": self.expires_in, "token_type": "Bearer"}
        return UpstreamResponse(200, {}, json.dumps(body).encode())


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _cache(service: TokenService, clock: Clock | None = None, **options: Any) -> TokenCache:
    post = transport_poster(REGISTRY, MockTransport(service.answer), "tokens", "/token", 1.0)
    exchanger = TokenExchanger("bff-mobile", "s3cret", post)
    return TokenCache(exchanger, clock=clock or Clock(), **options)


# -- the exchange ----------------------------------------------------------------------------


async def test_exchange_is_an_rfc8693_form_post_with_basic_client_auth() -> None:
    service = TokenService()
    await _cache(service).token("u1", "users")
    (form,) = service.requests
    assert form["grant_type"] == ["urn:ietf:params:oauth:grant-type:token-exchange"]
    assert form["subject_token"] == ["u1"] and form["audience"] == ["users"]
    assert form["subject_token_type"] == ["urn:waveform:subject"]
    assert service.headers[0]["authorization"] == "Basic YmZmLW1vYmlsZTpzM2NyZXQ="


async def test_a_token_due_for_renewal_is_used_while_it_is_renewed_in_the_background() -> None:
    service, clock = TokenService(expires_in=60), Clock()
    cache = _cache(service, clock, refresh_before_s=10)
    first = await cache.token("u1", "users")
    clock.now += 49
    assert await cache.token("u1", "users") == first
    assert len(service.requests) == 1
    clock.now += 2  # 51 s: inside the refresh window, 9 s of life left
    assert await cache.token("u1", "users") == first  # no wait for the token service
    await asyncio.sleep(0)  # one turn of the loop: the renewal lands
    renewed = await cache.token("u1", "users")
    assert renewed != first
    assert len(service.requests) == 2


async def test_a_token_with_too_little_life_left_is_not_used() -> None:
    service, clock = TokenService(expires_in=60), Clock()
    cache = _cache(service, clock, refresh_before_s=10)
    first = await cache.token("u1", "users")
    clock.now += 60 - MIN_VALIDITY_S  # the service might see it expired on arrival
    assert await cache.token("u1", "users") != first


async def test_after_a_failed_renewal_the_next_waits_a_second() -> None:
    service, clock = TokenService(expires_in=60), Clock()
    cache = _cache(service, clock, refresh_before_s=10)
    first = await cache.token("u1", "users")
    service.status = 503
    clock.now += 51
    for _ in range(20):  # the token service is down: the old token holds
        assert await cache.token("u1", "users") == first
        await asyncio.sleep(0)
    assert len(service.requests) == 2  # one failed renewal, not one per request
    clock.now += RENEW_RETRY_S
    service.status = 200
    await cache.token("u1", "users")
    await asyncio.sleep(0)
    assert await cache.token("u1", "users") != first


async def test_tokens_are_per_subject_and_per_audience() -> None:
    service = TokenService()
    cache = _cache(service)
    tokens = {await cache.token(s, a) for s in ("u1", "u2") for a in ("users", "catalog")}
    assert len(tokens) == 4 and len(service.requests) == 4


async def test_concurrent_misses_for_one_key_share_one_exchange() -> None:
    service = TokenService()
    service.gate = asyncio.Event()
    cache = _cache(service)
    waiters = [asyncio.create_task(cache.token("u1", "users")) for _ in range(20)]
    await asyncio.sleep(0)
    service.gate.set()
    assert len(set(await asyncio.gather(*waiters))) == 1
    assert len(service.requests) == 1


async def test_a_cancelled_caller_does_not_cancel_the_shared_exchange() -> None:
    service = TokenService()
    service.gate = asyncio.Event()
    cache = _cache(service)
    impatient = asyncio.create_task(cache.token("u1", "users"))
    patient = asyncio.create_task(cache.token("u1", "users"))
    await asyncio.sleep(0)
    impatient.cancel()
    service.gate.set()
    assert (await patient).startswith("tok-u1-users")


async def test_a_refused_exchange_is_a_token_exchange_error() -> None:
    service = TokenService()
    service.status = 403
    with pytest.raises(TokenExchangeError) as caught:
        await _cache(service).token("u1", "accounts")
    assert caught.value.upstream == "accounts" and caught.value.reason == "token_exchange"


async def test_a_still_valid_token_is_used_while_the_token_service_is_down() -> None:
    service, clock = TokenService(expires_in=60), Clock()
    cache = _cache(service, clock, refresh_before_s=10)
    first = await cache.token("u1", "users")
    service.down = True
    clock.now += 55  # due for refresh, not yet expired
    assert await cache.token("u1", "users") == first
    clock.now += 10  # expired: nothing left to fall back on
    with pytest.raises(UpstreamUnavailable):
        await cache.token("u1", "users")


async def test_the_cache_is_bounded() -> None:
    service = TokenService()
    cache = _cache(service, max_entries=2)
    for subject in ("u1", "u2", "u3"):
        await cache.token(subject, "users")
    await cache.token("u1", "users")  # evicted first, so exchanged again
    assert len(service.requests) == 4


# -- inward credentials --------------------------------------------------------------------


async def test_credentials_carry_a_bearer_token_about_the_caller() -> None:
    service = TokenService()
    creds = TokenExchangeCredentials(_cache(service), own_subject="bff-mobile")
    headers = await creds.headers("users", Principal("u7"))
    assert headers == (("authorization", "Bearer tok-u7-users-1"),)


async def test_without_a_caller_the_subject_is_the_bff_itself() -> None:
    service = TokenService()
    creds = TokenExchangeCredentials(_cache(service), own_subject="bff-mobile")
    await creds.headers("accounts", None)
    assert service.requests[0]["subject_token"] == ["bff-mobile"]


async def test_calls_to_the_token_service_carry_no_internal_token() -> None:
    service = TokenService()
    creds = TokenExchangeCredentials(_cache(service), own_subject="bff-mobile")
    assert await creds.headers("tokens", Principal("u1")) == ()
    assert service.requests == []


async def test_built_from_config_it_counts_exchanges_in_the_bffs_metrics() -> None:
    service = TokenService()
    metrics = Metrics("mobile")
    settings = TokenExchange(client_id="bff-mobile", client_secret="s3cret")
    creds = build_inward_credentials(settings, REGISTRY, MockTransport(service.answer), metrics)
    await creds.headers("users", Principal("u1"))
    await creds.headers("users", Principal("u1"))
    ok = metrics.registry.get_sample_value("tailor_token_exchanges_total", {"outcome": "ok"})
    assert ok == 1.0


def test_config_without_a_secret_names_the_key() -> None:
    from tailor.config import build_config
    from tailor.errors import ConfigError

    with pytest.raises(ConfigError) as caught:
        build_config(
            {
                "name": "m",
                "token_exchange": {"client_id": "bff-mobile", "client_secret_env": "UNSET_VAR_X1"},
            }
        )
    assert caught.value.key == "token_exchange.client_secret_env"


# -- the verifier -----------------------------------------------------------------------------


class KeySet:
    def __init__(self) -> None:
        self.keys: dict[str, ec.EllipticCurvePrivateKey] = {
            "k1": ec.generate_private_key(ec.SECP256R1())
        }
        self.fetches = 0
        self.fail = False

    async def fetch(self) -> bytes:
        self.fetches += 1
        if self.fail:
            raise OSError("unreachable")
        keys = []
        for kid, key in self.keys.items():
            jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
            keys.append({**jwk, "kid": kid, "alg": "ES256", "use": "sig"})
        return json.dumps({"keys": keys}).encode()

    def sign(self, kid: str = "k1", **overrides: Any) -> str:
        now = int(time.time())
        claims = {
            "iss": "waveform-tokens",
            "aud": "users",
            "sub": "u1",
            "act": {"sub": "bff-mobile"},
            "scope": "read",
            "iat": now,
            "exp": now + 60,
        }
        claims.update(overrides)
        return jwt.encode(claims, self.keys[kid], algorithm="ES256", headers={"kid": kid})


def _verifier(keys: KeySet, **options: Any) -> InternalTokenVerifier:
    return InternalTokenVerifier("users", "waveform-tokens", keys.fetch, **options)


async def test_a_valid_token_yields_subject_actor_and_scopes() -> None:
    keys = KeySet()
    claims = await _verifier(keys).verify(keys.sign(scope="read admin"))
    assert claims.subject == "u1" and claims.actor == "bff-mobile"
    assert claims.audience == "users" and claims.scopes == {"read", "admin"}


@pytest.mark.parametrize(
    "overrides",
    [
        {"aud": "catalog"},
        {"iss": "waveform-accounts"},
        {"exp": int(time.time()) - 30, "iat": int(time.time()) - 90},
        {"exp": int(time.time()) + 600},  # lives too long for an internal token
        {"act": None},
    ],
    ids=["audience", "issuer", "expired", "lifetime", "actor"],
)
async def test_a_wrong_token_is_refused(overrides: dict[str, Any]) -> None:
    keys = KeySet()
    with pytest.raises(InvalidInternalToken):
        await _verifier(keys).verify(keys.sign(**overrides))


async def test_alg_none_is_refused_before_any_key_is_fetched() -> None:
    keys = KeySet()
    token = jwt.encode({"sub": "u1", "aud": "users"}, None, algorithm="none")
    with pytest.raises(InvalidInternalToken):
        await _verifier(keys).verify(token)
    assert keys.fetches == 0


async def test_a_new_kid_is_picked_up_and_unknown_kids_refresh_at_most_once_per_interval() -> None:
    keys = KeySet()
    verifier = _verifier(keys, refresh_min_interval_s=60)
    await verifier.verify(keys.sign())
    keys.keys["k2"] = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(InvalidInternalToken):  # rotated within the interval: not yet known
        await verifier.verify(keys.sign("k2"))
    assert keys.fetches == 1
    fresh = _verifier(keys, refresh_min_interval_s=0)
    assert (await fresh.verify(keys.sign("k2"))).subject == "u1"


async def test_an_unreachable_jwks_is_keys_unavailable() -> None:
    keys = KeySet()
    keys.fail = True
    with pytest.raises(InternalKeysUnavailable):
        await _verifier(keys).verify(keys.sign())


async def test_a_verified_token_is_cached() -> None:
    keys = KeySet()
    verifier = _verifier(keys)
    token = keys.sign()
    first = await verifier.verify(token)
    keys.fail = True  # a second check would need the keys again
    assert await verifier.verify(token) is first


async def test_a_partner_token_yields_its_partner_and_label() -> None:
    keys = KeySet()
    token = keys.sign(sub="partner:p-acme", act={"sub": "bff-partner"}, label="Acme Records")
    claims = await _verifier(keys).verify(token)
    assert (claims.partner_id, claims.label) == ("p-acme", "Acme Records")


async def test_a_token_without_a_label_reads_as_no_label_and_no_partner() -> None:
    keys = KeySet()
    claims = await _verifier(keys).verify(keys.sign())
    assert (claims.partner_id, claims.label) == (None, None)


@pytest.mark.parametrize("label", ["", 7, ["Acme Records"]], ids=["empty", "number", "list"])
async def test_a_malformed_label_claim_is_refused(label: object) -> None:
    keys = KeySet()
    with pytest.raises(InvalidInternalToken):
        await _verifier(keys).verify(keys.sign(sub="partner:p-acme", label=label))


async def test_retry_after_failure_s_reaches_the_key_set() -> None:
    # The default (1 s) would refuse a second fetch for a second after the first failed;
    # configured to 1 ms, a second made-up kid fetches again well within the bound below.
    keys = KeySet()
    keys.fail = True
    verifier = _verifier(keys, refresh_min_interval_s=0, retry_after_failure_s=0.001)
    deadline = time.monotonic() + 0.5
    attempt = 0
    while keys.fetches < 2 and time.monotonic() < deadline:
        attempt += 1
        keys.keys[f"made-up-{attempt}"] = keys.keys["k1"]  # a new kid each time: a fetch
        with pytest.raises(InternalKeysUnavailable):
            await verifier.verify(keys.sign(f"made-up-{attempt}"))
        await asyncio.sleep(0.005)
    assert keys.fetches >= 2


class _RecordingExchanger:
    """Stands in for the token service at the exchanger seam: records who tokens are for."""

    def __init__(self) -> None:
        self.subjects: list[str] = []

    async def exchange(self, subject: str, audience: str, scope: str = ""):  # type: ignore[no-untyped-def]
        from tailor.auth.internal import IssuedToken

        self.subjects.append(subject)
        return IssuedToken(f"token-for-{subject}", 60)


CALLERS = [
    (Principal("u2"), "u2"),
    (Principal("u2", client_id="u2", kind="app"), "app:u2"),
    (Principal("p-acme", kind="partner", partner_id="p-acme"), "partner:p-acme"),
    (None, "bff-mobile"),
]


@pytest.mark.parametrize("principal, subject", CALLERS)
async def test_an_internal_token_names_what_kind_of_caller_it_is_for(principal, subject) -> None:
    # An app whose client id equals a user id must never be taken for that user by a service.
    exchanger = _RecordingExchanger()
    creds = TokenExchangeCredentials(TokenCache(exchanger), own_subject="bff-mobile")  # type: ignore[arg-type]
    headers = await creds.headers("users", principal)
    assert exchanger.subjects == [subject]
    assert headers == (("authorization", f"Bearer token-for-{subject}"),)


@pytest.mark.parametrize("principal, subject", CALLERS)
async def test_the_cached_header_is_the_token_exchanged_for_that_caller(principal, subject) -> None:
    exchanger = _RecordingExchanger()
    creds = TokenExchangeCredentials(TokenCache(exchanger), own_subject="bff-mobile")  # type: ignore[arg-type]
    assert creds.cached_headers("users", principal) is None  # nothing cached: the caller waits
    await creds.headers("users", principal)
    assert creds.cached_headers("users", principal) == (
        ("authorization", f"Bearer token-for-{subject}"),
    )
    assert exchanger.subjects == [subject]
