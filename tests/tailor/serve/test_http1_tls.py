"""tailor's HTTP/1.1 server over TLS: real handshakes on 127.0.0.1, the client certificate
handed to the pipeline as DER, and the handshake itself bounded in time."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tailor.config import TLS
from tailor.http import Request, Response
from tailor.serve.http1 import Http1Server, ServerSettings, tls_context
from waveform.certs import DemoCerts, ensure_demo_certs, issue, make_ca, write_pair


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> DemoCerts:
    return ensure_demo_certs(tmp_path_factory.mktemp("certs"), {"p-acme": "p-acme"})


Seen = list[tuple[str, bytes | None]]


@pytest.fixture
async def served(certs: DemoCerts) -> AsyncIterator[tuple[str, Seen]]:
    seen: Seen = []

    async def handle(request: Request) -> Response:
        seen.append((request.scheme, request.client_cert))
        return Response(200, b"ok")

    tls = TLS(
        cert_file=str(certs.server.cert),
        key_file=str(certs.server.key),
        client_ca_file=str(certs.ca.cert),
    )
    server = Http1Server(handle, ServerSettings(tls=tls_context(tls), header_read_timeout_s=0.5))
    await server.start(host="127.0.0.1", port=0)
    yield f"https://127.0.0.1:{server.port}", seen
    await server.close(grace_s=1)


def _client(certs: DemoCerts, cert: tuple[str, str] | None) -> httpx.AsyncClient:
    context = ssl.create_default_context(cafile=str(certs.ca.cert))
    if cert is not None:
        context.load_cert_chain(*cert)
    return httpx.AsyncClient(verify=context, timeout=5)


async def test_a_client_certificate_reaches_the_pipeline_as_der(
    certs: DemoCerts, served: tuple[str, Seen]
) -> None:
    url, seen = served
    partner = certs.clients["p-acme"]
    expected = ssl.PEM_cert_to_DER_cert(partner.cert.read_text())
    async with _client(certs, (str(partner.cert), str(partner.key))) as client:
        answer = await client.get(url + "/who")
    assert (answer.status_code, seen) == (200, [("https", expected)])


async def test_without_a_certificate_the_request_carries_none_when_optional(
    certs: DemoCerts, served: tuple[str, Seen]
) -> None:
    url, seen = served
    async with _client(certs, None) as client:
        answer = await client.get(url + "/who")
    assert (answer.status_code, seen) == (200, [("https", None)])


async def test_a_certificate_from_another_ca_never_completes_the_handshake(
    certs: DemoCerts, served: tuple[str, Seen], tmp_path: Path
) -> None:
    url, seen = served
    rogue, rogue_key = make_ca("rogue")
    stranger = write_pair(tmp_path, "stranger", *issue(rogue, rogue_key, "p-acme"))
    async with _client(certs, (str(stranger.cert), str(stranger.key))) as client:
        with pytest.raises(httpx.TransportError):
            await client.get(url + "/who")
    assert seen == []


async def test_a_client_that_never_finishes_the_handshake_is_closed(
    served: tuple[str, Seen],
) -> None:
    url, _ = served
    port = int(url.rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"\x16\x03\x01")  # the start of a ClientHello, and nothing more
    async with asyncio.timeout(5):  # header_read_timeout_s is 0.5 s
        assert await reader.read() == b""
    writer.close()


def _tls12_offering(certs: DemoCerts, cipher: str) -> ssl.SSLContext:
    """A client context that speaks TLS 1.2 only and offers exactly one suite."""
    context = ssl.create_default_context(cafile=str(certs.ca.cert))
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(cipher)
    return context


async def test_a_tls12_client_offering_only_a_cbc_suite_is_refused_at_the_handshake(
    certs: DemoCerts, served: tuple[str, Seen]
) -> None:
    url, seen = served
    port = int(url.rsplit(":", 1)[1])
    context = _tls12_offering(certs, "ECDHE-ECDSA-AES128-SHA256")
    # The server's OpenSSL finds no shared cipher and asyncio drops the connection.
    with pytest.raises((ssl.SSLError, ConnectionResetError)):
        await asyncio.open_connection("127.0.0.1", port, ssl=context, server_hostname="127.0.0.1")
    assert seen == []


async def test_a_tls12_client_offering_an_aead_suite_is_served(
    certs: DemoCerts, served: tuple[str, Seen]
) -> None:
    url, seen = served
    context = _tls12_offering(certs, "ECDHE-ECDSA-AES128-GCM-SHA256")
    async with httpx.AsyncClient(verify=context, timeout=5) as client:
        answer = await client.get(url + "/who")
    assert (answer.status_code, seen) == (200, [("https", None)])


async def test_a_connection_over_the_cap_is_closed_without_a_plaintext_answer(
    certs: DemoCerts,
) -> None:
    async def handle(request: Request) -> Response:
        return Response(200, b"ok")

    tls = TLS(cert_file=str(certs.server.cert), key_file=str(certs.server.key))
    server = Http1Server(handle, ServerSettings(tls=tls_context(tls), max_connections=1))
    await server.start(host="127.0.0.1", port=0)
    context = ssl.create_default_context(cafile=str(certs.ca.cert))
    try:
        _, first = await asyncio.open_connection(
            "127.0.0.1", server.port, ssl=context, server_hostname="127.0.0.1"
        )
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"\x16\x03\x01")  # a ClientHello begins: no HTTP answer can come in clear
        async with asyncio.timeout(5):
            assert await reader.read() == b""
        assert server.turned_away == 1
        first.close()
        writer.close()
    finally:
        await server.close(grace_s=1)
