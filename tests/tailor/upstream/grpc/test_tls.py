"""gRPC over TLS (``grpcs://``) against a real grpcio server with TLS credentials on loopback:
the server's certificate and host name verified against the configured CA, ALPN h2
required, a client certificate for a server that asks for one; and TLS files OpenSSL cannot
load stopping startup naming their key. The certificates are made per test (waveform.certs)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import msgspec
import pytest
from google.protobuf.message import Message
from library_server import SERVICE, ScriptedGrpc

from tailor.config import TLS, Config, GrpcSettings, GrpcTLS, build_config
from tailor.errors import ConfigError, UpstreamUnavailable
from tailor.serve.http1 import tls_context
from tailor.upstream.build import build_upstream_transport
from tailor.upstream.grpc.descriptors import Binding
from tailor.upstream.grpc.transport import GrpcTransport, GrpcUpstream
from tailor.upstream.transport import UpstreamRequest
from waveform.certs import DemoCerts, ensure_demo_certs


class BookCard(msgspec.Struct):
    id: str
    title: str


@pytest.fixture
def certs(tmp_path: Path) -> DemoCerts:
    return ensure_demo_certs(tmp_path / "certs", partners={"bff": "bff-mobile"})


def credentials(certs: DemoCerts, *, client_ca: bool = False) -> grpc.ServerCredentials:
    pair = (certs.server.key.read_bytes(), certs.server.cert.read_bytes())
    if not client_ca:
        return grpc.ssl_server_credentials([pair])
    ca = certs.ca.cert.read_bytes()
    return grpc.ssl_server_credentials([pair], root_certificates=ca, require_client_auth=True)


async def serve(routes: list[Binding], creds: grpc.ServerCredentials) -> ScriptedGrpc:
    server = ScriptedGrpc(routes, credentials=creds)

    async def dune(request: Message, context: Any) -> Message:
        # What grpcio's server saw of the connection: TLS, and the client's certificate.
        server.received.append(("auth", request, dict(context.auth_context()), None))
        return server.message("GetBook", id=request.book_id, title="Dune")

    server.scripts["GetBook"] = dune
    await server.start()
    return server


@pytest.fixture
async def library(routes: list[Binding], certs: DemoCerts) -> AsyncIterator[ScriptedGrpc]:
    server = await serve(routes, credentials(certs))
    yield server
    await server.server.stop(0)


@pytest.fixture
async def mtls_library(routes: list[Binding], certs: DemoCerts) -> AsyncIterator[ScriptedGrpc]:
    server = await serve(routes, credentials(certs, client_ca=True))
    yield server
    await server.server.stop(0)


def grpcs_config(port: int, descriptor_set: Path, tls: dict[str, str]) -> Config:
    """A BFF's config with the library upstream at ``grpcs://127.0.0.1:<port>``."""
    grpc = {"descriptor_sets": [str(descriptor_set)], "services": {"library": SERVICE}}
    upstreams = {"library": f"grpcs://127.0.0.1:{port}"}
    return build_config({"name": "bff", "upstreams": upstreams, "grpc": {**grpc, "tls": tls}})


async def get_book(upstream: GrpcUpstream, tls: GrpcTLS) -> BookCard:
    transport = GrpcTransport({"library": upstream}, settings=GrpcSettings(tls=tls))
    call = UpstreamRequest("library", "GET", f"{upstream.base}/books/b1", [], 5.0, into=BookCard)
    try:
        answer = await transport.send(call)
    finally:
        await transport.aclose()
    assert isinstance(answer.value, BookCard)
    return answer.value


async def test_a_grpcs_upstream_is_called_over_tls_verified_against_the_configured_ca(
    library: ScriptedGrpc, certs: DemoCerts, descriptor_set: Path
) -> None:
    config = grpcs_config(library.port, descriptor_set, {"ca_file": str(certs.ca.cert)})
    transport = build_upstream_transport(config)
    call = UpstreamRequest(
        "library", "GET", f"grpcs://127.0.0.1:{library.port}/books/b1", [], 5.0, into=BookCard
    )
    try:
        answer = await transport.send(call)
    finally:
        await transport.aclose()
    assert answer.value == BookCard("b1", "Dune")
    _, _, auth, _ = library.received[-1]
    assert auth["transport_security_type"] == [b"ssl"]


async def test_a_server_certificate_from_another_ca_fails_as_unavailable(
    library: ScriptedGrpc, tmp_path: Path
) -> None:
    other = ensure_demo_certs(tmp_path / "other", partners={})
    with pytest.raises(UpstreamUnavailable, match="TLS handshake failed: unable to get local"):
        await get_book(library.upstream(), GrpcTLS(ca_file=str(other.ca.cert)))


async def test_a_host_name_the_certificate_does_not_name_fails_as_unavailable(
    library: ScriptedGrpc, certs: DemoCerts
) -> None:
    # 127.1 is 127.0.0.1 to the resolver, and a name the certificate (localhost, 127.0.0.1)
    # does not list.
    with pytest.raises(UpstreamUnavailable, match="Hostname mismatch"):
        await get_book(library.upstream(host="127.1"), GrpcTLS(ca_file=str(certs.ca.cert)))


async def test_a_peer_that_does_not_select_h2_in_alpn_fails_as_unavailable_saying_so(
    routes: list[Binding], certs: DemoCerts
) -> None:
    # tailor's own server's TLS, offering HTTP/1.1 only: a web server, no gRPC server.
    context = tls_context(TLS(str(certs.server.cert), str(certs.server.key)))
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0, ssl=context)
    port = server.sockets[0].getsockname()[1]
    upstream = GrpcUpstream("library", f"grpcs://127.0.0.1:{port}", f"127.0.0.1:{port}", routes)
    upstream.tls = True
    try:
        with pytest.raises(UpstreamUnavailable, match="selected no protocol in ALPN, not 'h2'"):
            await get_book(upstream, GrpcTLS(ca_file=str(certs.ca.cert)))
    finally:
        server.close()


async def test_a_server_requiring_a_client_certificate_takes_the_configured_one(
    mtls_library: ScriptedGrpc, certs: DemoCerts
) -> None:
    pair = certs.client("bff")
    tls = GrpcTLS(ca_file=str(certs.ca.cert), cert_file=str(pair.cert), key_file=str(pair.key))
    assert await get_book(mtls_library.upstream(), tls) == BookCard("b1", "Dune")
    _, _, auth, _ = mtls_library.received[-1]
    assert b"bff-mobile" in auth["x509_common_name"]


async def test_a_server_requiring_a_client_certificate_refuses_a_call_without_one(
    mtls_library: ScriptedGrpc, certs: DemoCerts
) -> None:
    with pytest.raises(UpstreamUnavailable):
        await get_book(mtls_library.upstream(), GrpcTLS(ca_file=str(certs.ca.cert)))
    assert mtls_library.received == []


def test_a_client_key_that_is_not_the_certificate_s_stops_startup_naming_cert_file(
    certs: DemoCerts, tmp_path: Path, descriptor_set: Path
) -> None:
    other = ensure_demo_certs(tmp_path / "other", partners={"bff": "bff"}).client("bff")
    tls = {"cert_file": str(certs.client("bff").cert), "key_file": str(other.key)}
    with pytest.raises(ConfigError) as caught:
        build_upstream_transport(grpcs_config(9, descriptor_set, tls))
    assert caught.value.key == "grpc.tls.cert_file"


def test_a_ca_file_that_holds_no_certificate_stops_startup_naming_ca_file(
    tmp_path: Path, descriptor_set: Path
) -> None:
    junk = tmp_path / "ca.pem"
    junk.write_text("not a certificate\n")
    with pytest.raises(ConfigError) as caught:
        build_upstream_transport(grpcs_config(9, descriptor_set, {"ca_file": str(junk)}))
    assert caught.value.key == "grpc.tls.ca_file"
