"""API keys through the pipeline, verified by a real (scripted) key store."""

from __future__ import annotations

import json

import pytest
from harness import assert_problem, body_json, call
from upstreams import Received, Script, closed_port

from tailor import Request, Response, json_response

GOOD = "wf_live_" + "a" * 40
OTHER = "wf_live_" + "b" * 40


def _verdicts(received: Received) -> Script:
    # The verify body is not recorded by the scripted upstream; the key store here accepts
    # every well-formed key as p-acme, and the tests swap the script to revoke.
    return Script(json={"partner_id": "p-acme", "key_id": "k1", "scopes": ["partner:read"]})


@pytest.fixture
async def keystore(upstream):
    upstream.script("POST", "/keys/verify", _verdicts)
    return upstream


def _bff(make_bff, keystore_url: str, **options):
    bff = make_bff({"auth": {"api_key": options}, "upstreams": {"accounts": keystore_url}})

    @bff.get("/v1/partner")
    async def me(request: Request) -> Response:
        p = request.principal
        assert p is not None
        return json_response({"partner": p.partner_id, "kind": p.kind, "by": p.credential})

    return bff


async def test_a_good_key_authenticates_as_its_partner(make_bff, keystore):
    response = await call(_bff(make_bff, keystore.url), path="/v1/partner",
                          headers={"x-api-key": GOOD})  # fmt: skip
    assert body_json(response) == {"partner": "p-acme", "kind": "partner", "by": "api_key"}


async def test_the_key_itself_goes_only_in_the_verify_body_never_in_a_header(make_bff, keystore):
    await call(_bff(make_bff, keystore.url), path="/v1/partner", headers={"x-api-key": GOOD})
    seen = keystore.received("/keys/verify")[0]
    assert GOOD not in json.dumps(seen.headers)


async def test_a_verdict_is_cached_so_repeated_calls_ask_the_key_store_once(make_bff, keystore):
    bff = _bff(make_bff, keystore.url)
    for _ in range(4):
        await call(bff, path="/v1/partner", headers={"x-api-key": GOOD})
    assert len(keystore.received("/keys/verify")) == 1


async def test_a_revoked_key_is_refused_once_the_cache_ttl_has_passed(make_bff, keystore):
    bff = _bff(make_bff, keystore.url, cache_ttl_s=0.0)
    assert (await call(bff, path="/v1/partner", headers={"x-api-key": GOOD})).status == 200
    keystore.script("POST", "/keys/verify", status=401, json={"status": 401})
    assert_problem(await call(bff, path="/v1/partner", headers={"x-api-key": GOOD}), 401)


async def test_an_unknown_key_and_a_malformed_key_get_the_same_401(make_bff, keystore):
    keystore.script("POST", "/keys/verify", status=401, json={"status": 401})
    bff = _bff(make_bff, keystore.url)
    rid = {"x-request-id": "same-request-id"}  # the id a refusal names is the caller's own
    unknown = assert_problem(await call(bff, path="/v1/partner",
                                        headers={"x-api-key": OTHER, **rid}), 401)  # fmt: skip
    malformed = assert_problem(
        await call(bff, path="/v1/partner", headers={"x-api-key": "short'; DROP", **rid}), 401
    )
    assert unknown == malformed


async def test_a_malformed_key_never_reaches_the_key_store(make_bff, keystore):
    bff = _bff(make_bff, keystore.url)
    await call(bff, path="/v1/partner", headers={"x-api-key": "../../etc/passwd"})
    assert keystore.received("/keys/verify") == []


async def test_an_unreachable_key_store_is_a_503_not_a_401(make_bff):
    bff = _bff(make_bff, f"http://127.0.0.1:{closed_port()}")
    assert_problem(await call(bff, path="/v1/partner", headers={"x-api-key": GOOD}), 503)


async def test_no_key_is_a_401_with_an_api_key_challenge(make_bff, keystore):
    response = await call(_bff(make_bff, keystore.url), path="/v1/partner")
    assert_problem(response, 401)
    assert response.header("www-authenticate") == 'ApiKey header="x-api-key"'


async def test_a_flood_of_made_up_keys_never_evicts_a_real_partners_verdict() -> None:
    from tailor.auth.apikey import APIKeyAuthenticator
    from tailor.auth.authenticator import InvalidCredential
    from tailor.config import APIKeyAuth
    from tailor.http import Request as TailorRequest

    asked: list[str] = []

    async def verify(body: bytes) -> tuple[int, bytes]:
        key = json.loads(body)["api_key"]
        asked.append(key)
        if key == GOOD:
            return 200, json.dumps({"partner_id": "p-acme", "key_id": "k1", "scopes": []}).encode()
        return 401, b"{}"

    auth = APIKeyAuthenticator(APIKeyAuth(cache_size=10), verify)

    def with_key(key: str) -> TailorRequest:
        return TailorRequest("GET", "/v1/partner", "", {"x-api-key": key}, "127.0.0.1")

    assert (await auth.authenticate(with_key(GOOD))) is not None
    for n in range(50):
        with pytest.raises(InvalidCredential):
            await auth.authenticate(with_key(f"wf_live_{n:040d}"))
    assert (await auth.authenticate(with_key(GOOD))) is not None
    assert asked.count(GOOD) == 1, "the real partner's verdict was still cached"
