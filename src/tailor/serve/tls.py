"""Serving over TLS under uvicorn, with the verified client certificate handed to the BFF
(mutual TLS), for a BFF with ``server.interface = "rsgi"`` or ``"asgi"``. tailor's own server
(the default) terminates TLS itself: see :func:`tailor.serve.http1.tls_context`.

Why not granian here: granian (2.8) can verify client certificates (``ssl_ca``,
``ssl_client_verify``) but exposes neither the peer certificate nor its subject to the app
in the RSGI or ASGI scope, and neither do uvicorn or hypercorn out of the box. So TLS runs
under uvicorn (the BFF is also an ASGI app) with a small h11 protocol subclass that, once
the handshake is done, reads the peer certificate from the connection's ``ssl_object`` and
adds it to each request's scope the way the ASGI TLS extension describes
(``scope["extensions"]["tls"]["client_cert_chain"]``, PEM, leaf first). The ASGI adapter
moves the leaf (as DER) into ``request.client_cert``, where the mTLS authenticator reads it.

The chain is verified by OpenSSL in the handshake against ``listen.tls.client_ca_file``; a
certificate from another CA, expired or malformed never completes a handshake.
``client_cert = "optional"`` lets a client without a certificate connect (it must then
authenticate another way, e.g. an API key); ``"required"`` refuses it at the handshake.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

from tailor.config import Config
from tailor.serve.http1 import AEAD_CIPHERS


class PeerCertificateH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, adding the ASGI TLS extension with the client certificate."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        ssl_object = transport.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        if not der:
            return
        extension = {"client_cert_chain": [ssl.DER_cert_to_PEM_cert(der)]}
        inner = self.app

        async def with_peer_certificate(scope: Any, receive: Any, send: Any) -> None:
            scope.setdefault("extensions", {})["tls"] = extension
            await inner(scope, receive, send)

        self.app = with_peer_certificate


def serve_tls(factory: str, config: Config) -> None:
    """Run ``factory`` (``"module:function"`` returning the BFF) under uvicorn over TLS."""
    import uvicorn

    tls = config.listen.tls
    assert tls is not None
    if tls.client_ca_file is None:
        cert_reqs = ssl.CERT_NONE
    else:
        cert_reqs = ssl.CERT_REQUIRED if tls.client_cert == "required" else ssl.CERT_OPTIONAL
    uvicorn.Server(
        uvicorn.Config(
            factory,
            factory=True,
            host=config.listen.host,
            port=config.listen.port,
            ssl_certfile=tls.cert_file,
            ssl_keyfile=tls.key_file,
            ssl_ca_certs=tls.client_ca_file,
            ssl_cert_reqs=cert_reqs,
            ssl_ciphers=AEAD_CIPHERS,
            http=PeerCertificateH11Protocol,
            lifespan="on",
            server_header=False,
            log_level="warning",
            access_log=False,
            timeout_keep_alive=5,
            h11_max_incomplete_event_size=config.limits.max_header_bytes,
        )
    ).run()
