"""The TLS side of ``grpcs://`` upstreams: the client context every such channel shares, and
what a finished handshake must show before HTTP/2 starts on it.

The context verifies the server's certificate chain and host name (against ``grpc.tls.ca_file``
or, without one, the system's CAs), offers the ciphers tailor's server offers (forward-secret
AEAD only, all of them allowed by HTTP/2: RFC 9113 s9.2.2), and ALPN ``h2`` alone: gRPC has no
HTTP/1.1 fallback, so a peer that selects nothing else is no gRPC server and the connection
fails as unavailable, saying so (:func:`alpn_refusal`). With ``cert_file`` and ``key_file``
the client presents a certificate to the services that ask for one (mutual TLS).

>>> from tailor.config import GrpcTLS
>>> client_context(GrpcTLS()).check_hostname
True
"""

from __future__ import annotations

import ssl

from tailor.config import GrpcTLS
from tailor.errors import ConfigError
from tailor.serve.http1 import AEAD_CIPHERS

ALPN = "h2"


def client_context(tls: GrpcTLS) -> ssl.SSLContext:
    """The client context of ``tls`` (``grpc.tls``); a CA file, certificate or key OpenSSL
    cannot load is a ConfigError naming its key."""
    try:
        context = ssl.create_default_context(cafile=tls.ca_file)
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError("grpc.tls.ca_file", f"cannot load {tls.ca_file}: {_why(exc)}") from exc
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(AEAD_CIPHERS)
    context.set_alpn_protocols([ALPN])
    if tls.cert_file is not None:
        try:
            context.load_cert_chain(tls.cert_file, tls.key_file)
        except (ssl.SSLError, OSError) as exc:
            raise ConfigError(
                "grpc.tls.cert_file", f"cannot load {tls.cert_file} with its key: {_why(exc)}"
            ) from exc
    return context


def alpn_refusal(ssl_object: ssl.SSLObject | None) -> str | None:
    """Why a finished handshake cannot carry gRPC (the peer did not select ``h2``), or None."""
    if ssl_object is None:
        return None
    selected = ssl_object.selected_alpn_protocol()
    if selected == ALPN:
        return None
    offered = repr(selected) if selected else "no protocol"
    return f"the peer selected {offered} in ALPN, not 'h2'"


def handshake_failure(exc: ssl.SSLError) -> str:
    """A failed handshake's reason for UpstreamUnavailable: OpenSSL's verdict on the
    certificate (an unknown CA, a host name it does not name), or the alert."""
    return f"TLS handshake failed: {_why(exc)}"


def _why(exc: Exception) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return str(exc.verify_message)
    if isinstance(exc, ssl.SSLError):
        return str(exc.reason or exc)
    if isinstance(exc, OSError):
        return str(exc.strerror or exc)
    return str(exc)
