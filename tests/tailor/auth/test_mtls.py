"""Mutual TLS end to end in one process: uvicorn with tailor's peer-certificate protocol, a
real TLS handshake, and the mTLS authenticator mapping the subject through a scripted
identity service."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from tailor import BFF, Request, Response, build_config, json_response
from tailor.errors import ConfigError
from tailor.serve.tls import PeerCertificateH11Protocol
from waveform.certs import DemoCerts, ensure_demo_certs, issue, make_ca, write_pair


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> DemoCerts:
    return ensure_demo_certs(tmp_path_factory.mktemp("certs"), {"p-acme": "p-acme"})


@pytest.fixture
async def served(certs: DemoCerts, upstream) -> AsyncIterator[str]:
    upstream.script("GET", "/partners/by-certificate", lambda r: _partner_for(r.query))
    port = _free_port()
    config = build_config({
        "name": "partner",
        "admin": {"enabled": False},
        "listen": {"port": port, "tls": {
            "cert_file": str(certs.server.cert), "key_file": str(certs.server.key),
            "client_ca_file": str(certs.ca.cert)}},
        "auth": {"mtls": {}},
        "upstreams": {"accounts": upstream.url},
    })  # fmt: skip
    bff = BFF(config)

    @bff.get("/who")
    async def who(request: Request) -> Response:
        p = request.principal
        assert p is not None
        return json_response({"partner": p.partner_id, "by": p.credential})

    server = uvicorn.Server(
        uvicorn.Config(
            bff, host="127.0.0.1", port=port, ssl_certfile=str(certs.server.cert),
            ssl_keyfile=str(certs.server.key), ssl_ca_certs=str(certs.ca.cert),
            ssl_cert_reqs=ssl.CERT_OPTIONAL, http=PeerCertificateH11Protocol,
            lifespan="on", log_level="warning",
        )
    )  # fmt: skip
    task = asyncio.create_task(server.serve())
    async with asyncio.timeout(10):  # uvicorn offers a flag, not an event: a bounded poll
        while not server.started:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    yield f"https://127.0.0.1:{port}"
    server.should_exit = True
    await task


def _partner_for(query: dict[str, str]):  # type: ignore[no-untyped-def]
    from upstreams import Script

    if query.get("subject") == "p-acme":
        return Script(json={"partner_id": "p-acme"})
    return Script(status=404, json={"status": 404})


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _client(certs: DemoCerts, cert: Path | None = None, key: Path | None = None):
    context = ssl.create_default_context(cafile=str(certs.ca.cert))
    if cert is not None and key is not None:
        context.load_cert_chain(str(cert), str(key))
    return httpx.AsyncClient(verify=context, timeout=5)


async def test_a_client_certificate_from_the_ca_authenticates_its_partner(certs, served):
    pair = certs.client("p-acme")
    async with _client(certs, pair.cert, pair.key) as client:
        response = await client.get(f"{served}/who")
    assert response.status_code == 200
    assert response.json() == {"partner": "p-acme", "by": "mtls"}


async def test_no_certificate_is_a_401_when_certificates_are_optional(certs, served):
    async with _client(certs) as client:
        response = await client.get(f"{served}/who")
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"


async def test_a_certificate_for_an_unknown_subject_is_a_401(certs, served, tmp_path):
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    ca = x509.load_pem_x509_certificate(certs.ca.cert.read_bytes())
    ca_key = serialization.load_pem_private_key(certs.ca.key.read_bytes(), password=None)
    pair = write_pair(tmp_path, "stranger", *issue(ca, ca_key, "p-stranger"))  # type: ignore[arg-type]
    async with _client(certs, pair.cert, pair.key) as client:
        response = await client.get(f"{served}/who")
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"


async def test_a_certificate_from_another_ca_fails_the_handshake(certs, served, tmp_path):
    rogue, rogue_key = make_ca("rogue")
    pair = write_pair(tmp_path, "rogue", *issue(rogue, rogue_key, "p-acme"))
    async with _client(certs, pair.cert, pair.key) as client:
        with pytest.raises((httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError)):
            await client.get(f"{served}/who")


def test_mtls_without_a_client_ca_is_a_config_error_naming_the_key() -> None:
    with pytest.raises(ConfigError, match=r"auth\.mtls"):
        build_config({"name": "p", "auth": {"mtls": {}}})


def test_a_host_prefixed_cookie_without_secure_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"auth\.session\.cookie_name"):
        build_config({"name": "w", "auth": {"session": {"secure": False}}})


def test_a_redis_session_store_without_a_redis_url_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"auth\.session\.store"):
        build_config({"name": "w", "auth": {"session": {"store": "redis"}}})
