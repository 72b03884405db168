"""Where the edge's JWT verifier gets its keys (``auth.jwt``): a service of the BFF's
``upstreams``, the JWKS URL of the user's own identity provider, a JWKS file, or one PEM public
key. Each is a fetcher for :class:`~tailor.auth.keyset.KeySet`, which calls it when a token
names a kid not seen yet (at most once per refresh interval), so every source rotates.

A URL is fetched on a connection of its own, closed afterwards (a refresh is rare), bounded in
time (``jwks_timeout_s``) and size (``jwks_max_bytes``); over https the provider's certificate
is verified with the system's trust store. Files are read again on each refresh, so replacing
one rotates the keys. A file that cannot be read or parsed stops startup naming its key.

:func:`fetcher` picks the fetcher of the source the settings name; one PEM key, for example,
is served as a one-key JWKS under its configured kid:

>>> import asyncio, tempfile
>>> from cryptography.hazmat.primitives import serialization
>>> from cryptography.hazmat.primitives.asymmetric import ec
>>> pem = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
...     serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
>>> with tempfile.TemporaryDirectory() as tmp:
...     key_file = Path(tmp, "idp.pem")
...     _ = key_file.write_bytes(pem)
...     settings = JWTAuth("https://id.example", "my-bff", algorithm="ES256",
...                        public_key_file=str(key_file), public_key_kid="idp-1")
...     jwks = json.loads(asyncio.run(file_fetcher(settings)()))
>>> [(key["kid"], key["kty"], key["alg"]) for key in jwks["keys"]]
[('idp-1', 'EC', 'ES256')]
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path

from jwt import PyJWKSet
from jwt.algorithms import get_default_algorithms
from jwt.exceptions import InvalidKeyError, PyJWKSetError

from tailor.config import JWTAuth
from tailor.errors import ConfigError, UpstreamStatusError
from tailor.upstream.client import UpstreamClient
from tailor.upstream.http1_transport import Http1Transport
from tailor.upstream.transport import UpstreamRequest

Fetcher = Callable[[], Awaitable[bytes]]

#: The name a JWKS URL's failures carry (it is no upstream of the config).
JWKS_URL = "jwks_url"


def fetcher(settings: JWTAuth, client: UpstreamClient) -> Fetcher:
    """The fetcher of the one key source ``settings`` names (checked by the config)."""
    if settings.jwks_upstream is not None:
        return client.fetcher(settings.jwks_upstream, settings.jwks_path)
    if settings.jwks_url is not None:
        return url_fetcher(settings.jwks_url, settings.jwks_timeout_s, settings.jwks_max_bytes)
    return file_fetcher(settings)


def check_key_source(settings: JWTAuth) -> None:
    """Read a file source once at startup: :class:`ConfigError` naming its key when it cannot
    be read or holds no usable key set."""
    if settings.jwks_file is None and settings.public_key_file is None:
        return
    raw = _read(settings)
    try:
        PyJWKSet.from_json(raw.decode())
    except (PyJWKSetError, UnicodeDecodeError, ValueError) as exc:
        raise ConfigError(_file_key(settings), f"holds no usable key set: {exc}") from exc


def url_fetcher(url: str, timeout_s: float, max_bytes: int) -> Fetcher:
    async def fetch() -> bytes:
        transport = Http1Transport(
            max_connections=1, connect_timeout_s=timeout_s, max_response_bytes=max_bytes
        )
        try:
            headers = [("accept", "application/json")]
            response = await transport.send(
                UpstreamRequest(JWKS_URL, "GET", url, headers, timeout_s)
            )
        finally:
            await transport.aclose()
        if response.status != 200:
            raise UpstreamStatusError(JWKS_URL, response.status)
        return response.body

    return fetch


def file_fetcher(settings: JWTAuth) -> Fetcher:
    async def fetch() -> bytes:
        return _read(settings)

    return fetch


def _read(settings: JWTAuth) -> bytes:
    """The file source's key set as a JWKS document (a PEM key becomes a one-key set)."""
    path = Path(settings.jwks_file or settings.public_key_file or "")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(_file_key(settings), f"cannot read {path}: {exc.strerror}") from exc
    if settings.public_key_file is None:
        return raw
    algorithm = get_default_algorithms()[settings.algorithm]
    try:
        jwk = json.loads(algorithm.to_jwk(algorithm.prepare_key(raw)))
    except (InvalidKeyError, ValueError, TypeError) as exc:
        raise ConfigError(
            "auth.jwt.public_key_file", f"is not a PEM public key for {settings.algorithm}"
        ) from exc
    jwk.update({"kid": settings.public_key_kid, "alg": settings.algorithm, "use": "sig"})
    return json.dumps({"keys": [jwk]}).encode()


def _file_key(settings: JWTAuth) -> str:
    return "auth.jwt.jwks_file" if settings.jwks_file is not None else "auth.jwt.public_key_file"
