"""Mutual TLS: a client certificate, verified in the handshake, mapped to a partner.

The chain is verified by the TLS layer against the partner CA (``listen.tls.client_ca_file``):
a certificate from anywhere else never completes a handshake, so no HTTP request exists to
authenticate. What reaches this authenticator is the verified leaf (DER), put in
``request.client_cert`` by the TLS server adapter (never read from a header).
Its subject common name is mapped to a partner id by the identity service
(``GET /partners/by-certificate?subject=<CN>``), cached per subject.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import msgspec
from cryptography import x509
from cryptography.x509.oid import NameOID

from tailor.auth.authenticator import CredentialsUnavailable, InvalidCredential
from tailor.auth.principal import Principal
from tailor.config import MTLSAuth
from tailor.errors import TailorError
from tailor.http import Request

#: GET the partner for a subject CN: returns (status, body).
SubjectLookup = Callable[[str], Awaitable[tuple[int, bytes]]]


class _Partner(msgspec.Struct):
    partner_id: str


_decode = msgspec.json.Decoder(_Partner).decode


def subject_common_name(der: bytes) -> str:
    """The subject CN of a DER certificate; :class:`InvalidCredential` if there is none."""
    try:
        cert = x509.load_der_x509_certificate(der)
        names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    except ValueError as exc:
        raise InvalidCredential("unparsable client certificate") from exc
    if len(names) != 1 or not isinstance(names[0].value, str) or not names[0].value:
        raise InvalidCredential("client certificate without exactly one subject CN")
    return names[0].value


class MTLSAuthenticator:
    """A partner's verified client certificate, mapped to its partner id.

    >>> import asyncio, datetime
    >>> from cryptography.hazmat.primitives import hashes, serialization
    >>> from cryptography.hazmat.primitives.asymmetric import ec
    >>> key = ec.generate_private_key(ec.SECP256R1())
    >>> name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "acme-player")])
    >>> now = datetime.datetime.now(datetime.timezone.utc)
    >>> cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
    ...         .public_key(key.public_key()).serial_number(1).not_valid_before(now)
    ...         .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    >>> async def lookup(subject: str) -> tuple[int, bytes]:  # the identity service
    ...     return 200, b'{"partner_id": "p-acme"}'
    >>> auth = MTLSAuthenticator(MTLSAuth(), lookup)
    >>> der = cert.public_bytes(serialization.Encoding.DER)
    >>> request = Request("GET", "/v1/catalog", "", {}, "127.0.0.1", client_cert=der)
    >>> asyncio.run(auth.authenticate(request)).partner_id
    'p-acme'
    """

    challenge = 'Mutual-TLS realm="partner"'

    def __init__(self, settings: MTLSAuth, lookup: SubjectLookup) -> None:
        self._settings = settings
        self._lookup = lookup
        self._cache: dict[str, tuple[float, str | None]] = {}

    async def authenticate(self, request: Request) -> Principal | None:
        der = request.client_cert
        if not der:
            return None
        if not isinstance(der, bytes):
            raise InvalidCredential("client certificate in an unexpected form")
        subject = subject_common_name(der)
        partner_id = await self._partner_for(subject)
        if partner_id is None:
            raise InvalidCredential("certificate subject maps to no partner")
        return Principal(
            subject=partner_id, kind="partner", credential="mtls", partner_id=partner_id
        )

    async def _partner_for(self, subject: str) -> str | None:
        now = time.monotonic()
        hit = self._cache.get(subject)
        if hit is not None and hit[0] > now:
            return hit[1]
        try:
            status, body = await self._lookup(subject)
        except TailorError as exc:
            raise CredentialsUnavailable("the identity service is unreachable") from exc
        if status == 404:
            partner: str | None = None
        elif status == 200:
            try:
                partner = _decode(body).partner_id or None
            except msgspec.DecodeError as exc:
                raise CredentialsUnavailable("the identity service answered garbage") from exc
        else:
            raise CredentialsUnavailable(f"the identity service answered {status}")
        if len(self._cache) >= 10_000:
            self._cache.pop(next(iter(self._cache)))
        self._cache[subject] = (now + self._settings.cache_ttl_s, partner)
        return partner
