"""The JWT verifier's key sources: the identity provider's JWKS URL (a real server on
127.0.0.1, bounded in time and size), a JWKS file, a PEM public key; exactly one of them."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from harness import AUDIENCE, ISSUER, bearer, call, jwks, rsa_key, sign
from upstreams import ScriptedUpstream

from tailor import BFF, Request, Response, build_config, json_response
from tailor.auth.jwt import InvalidToken, JWTVerifier, KeysUnavailable
from tailor.auth.keysource import fetcher
from tailor.config import JWTAuth
from tailor.errors import ConfigError

Scripted = Callable[[], Awaitable[ScriptedUpstream]]


def _settings(**source: Any) -> JWTAuth:
    return JWTAuth(issuer=ISSUER, audience=AUDIENCE, **source)


def _verifier(settings: JWTAuth) -> JWTVerifier:
    # Only an upstream source asks the client; the others never touch it.
    return JWTVerifier(settings, fetcher(settings, client=None))  # type: ignore[arg-type]


def _pem(path: Path, key_name: str) -> Path:
    path.write_bytes(
        rsa_key(key_name)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return path


async def test_a_jwks_url_of_the_users_own_identity_provider_verifies_its_tokens(
    scripted: Scripted,
) -> None:
    idp = await scripted()
    idp.script("GET", "/oauth/keys", json=jwks("k1"))
    verifier = _verifier(_settings(jwks_url=f"{idp.url}/oauth/keys"))
    principal = await verifier.verify(sign("k1"))
    assert (principal.subject, len(idp.received("/oauth/keys"))) == ("u42", 1)


async def test_a_rotated_key_at_the_jwks_url_is_fetched_when_a_token_names_it(
    scripted: Scripted,
) -> None:
    idp = await scripted()
    idp.script("GET", "/keys", json=jwks("k1"))
    verifier = _verifier(_settings(jwks_url=f"{idp.url}/keys", jwks_refresh_min_interval_s=0))
    await verifier.verify(sign("k1"))
    idp.script("GET", "/keys", json=jwks("k1", "k2"))
    principal = await verifier.verify(sign("k2", sub="u7"))
    assert (principal.subject, len(idp.received("/keys"))) == ("u7", 2)


async def test_a_jwks_larger_than_jwks_max_bytes_leaves_keys_unavailable(
    scripted: Scripted,
) -> None:
    idp = await scripted()
    document = jwks("k1")
    document["padding"] = "x" * 4096
    idp.script("GET", "/keys", json=document)
    verifier = _verifier(_settings(jwks_url=f"{idp.url}/keys", jwks_max_bytes=4096))
    with pytest.raises(KeysUnavailable, match="could not be fetched"):
        await verifier.verify(sign("k1"))


async def test_a_jwks_url_that_does_not_answer_within_jwks_timeout_s_leaves_keys_unavailable(
    scripted: Scripted,
) -> None:
    idp = await scripted()
    idp.script("GET", "/keys", json=jwks("k1"), gate=asyncio.Event())  # never answers
    verifier = _verifier(_settings(jwks_url=f"{idp.url}/keys", jwks_timeout_s=0.2))
    async with asyncio.timeout(5):
        with pytest.raises(KeysUnavailable, match="could not be fetched"):
            await verifier.verify(sign("k1"))


async def test_a_jwks_url_answering_an_error_status_leaves_keys_unavailable(
    scripted: Scripted,
) -> None:
    idp = await scripted()
    idp.script("GET", "/keys", status=500, json={})
    with pytest.raises(KeysUnavailable):
        await _verifier(_settings(jwks_url=f"{idp.url}/keys")).verify(sign("k1"))


async def test_a_jwks_file_verifies_tokens_signed_by_its_keys(tmp_path: Path) -> None:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(jwks("k1")))
    principal = await _verifier(_settings(jwks_file=str(path))).verify(sign("k1"))
    assert principal.subject == "u42"


async def test_a_pem_public_key_verifies_tokens_naming_its_kid(tmp_path: Path) -> None:
    settings = _settings(public_key_file=str(_pem(tmp_path / "k.pem", "k1")), public_key_kid="k1")
    principal = await _verifier(settings).verify(sign("k1"))
    assert principal.subject == "u42"


async def test_a_pem_public_key_refuses_a_token_naming_another_kid(tmp_path: Path) -> None:
    settings = _settings(public_key_file=str(_pem(tmp_path / "k.pem", "k1")), public_key_kid="k1")
    with pytest.raises(InvalidToken, match="unknown kid"):
        await _verifier(settings).verify(sign("k2"))


async def test_a_bff_with_a_jwks_url_serves_a_token_its_provider_signed(
    scripted: Scripted,
) -> None:
    idp = await scripted()
    idp.script("GET", "/keys", json=jwks("k1"))
    jwt = {"issuer": ISSUER, "audience": AUDIENCE, "jwks_url": f"{idp.url}/keys"}
    bff = BFF(build_config({"name": "t", "admin": {"enabled": False}, "auth": {"jwt": jwt}}))

    @bff.get("/v1/me")
    async def me(request: Request) -> Response:
        return json_response({"me": request.principal.subject})

    try:
        response = await call(bff, "GET", "/v1/me", headers=bearer(sign("k1")))
    finally:
        await bff.shutdown()
    assert (response.status, json.loads(response.body)) == (200, {"me": "u42"})


def test_no_key_source_is_refused_naming_auth_jwt() -> None:
    with pytest.raises(ConfigError) as caught:
        build_config({"name": "t", "auth": {"jwt": {"issuer": "i", "audience": "a"}}})
    assert caught.value.key == "auth.jwt"


def test_two_key_sources_are_refused_naming_the_second() -> None:
    jwt = {"issuer": "i", "audience": "a", "jwks_upstream": "accounts", "jwks_url": "https://x/k"}
    with pytest.raises(ConfigError) as caught:
        build_config({"name": "t", "auth": {"jwt": jwt}})
    assert caught.value.key == "auth.jwt.jwks_url"


def test_a_jwks_url_that_is_not_http_is_refused_naming_it() -> None:
    jwt = {"issuer": "i", "audience": "a", "jwks_url": "file:///etc/keys.json"}
    with pytest.raises(ConfigError) as caught:
        build_config({"name": "t", "auth": {"jwt": jwt}})
    assert caught.value.key == "auth.jwt.jwks_url"


def test_a_public_key_file_without_its_kid_is_refused_naming_public_key_kid() -> None:
    jwt = {"issuer": "i", "audience": "a", "public_key_file": "/k.pem"}
    with pytest.raises(ConfigError) as caught:
        build_config({"name": "t", "auth": {"jwt": jwt}})
    assert caught.value.key == "auth.jwt.public_key_kid"


@pytest.mark.parametrize("content", [None, b"not json", b'{"keys": []}'])
def test_a_jwks_file_that_cannot_be_read_or_parsed_stops_startup_naming_it(
    tmp_path: Path, content: bytes | None
) -> None:
    path = tmp_path / "jwks.json"
    if content is not None:
        path.write_bytes(content)
    jwt = {"issuer": "i", "audience": "a", "jwks_file": str(path)}
    bff = BFF(build_config({"name": "t", "admin": {"enabled": False}, "auth": {"jwt": jwt}}))
    with pytest.raises(ConfigError) as caught:
        bff.check()
    assert caught.value.key == "auth.jwt.jwks_file"


def test_a_public_key_file_that_is_no_pem_key_stops_startup_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "k.pem"
    path.write_text("-----BEGIN PUBLIC KEY-----\nnonsense\n-----END PUBLIC KEY-----\n")
    jwt = {"issuer": "i", "audience": "a", "public_key_file": str(path), "public_key_kid": "k1"}
    bff = BFF(build_config({"name": "t", "admin": {"enabled": False}, "auth": {"jwt": jwt}}))
    with pytest.raises(ConfigError) as caught:
        bff.check()
    assert caught.value.key == "auth.jwt.public_key_file"
