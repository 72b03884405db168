"""Demo certificates: one CA, a server certificate for 127.0.0.1/localhost, and a client
certificate per partner, generated with ``cryptography`` (no openssl binary needed).

``make demo`` (the supervisor) calls :func:`ensure_demo_certs` before it starts the partner
BFF; the files live in ``<data-dir>/certs`` and are reused while they are valid. Private keys
are written with mode 0600. For a demo and tests only: a real deployment brings its own CA.

>>> certs = ensure_demo_certs(Path("var/demo/certs"))  # doctest: +SKIP
>>> certs.client("p-acme").cert                         # doctest: +SKIP
PosixPath('var/demo/certs/partner-p-acme.crt')
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

#: Partner id -> the subject CN its client certificate carries (the accounts service maps
#: the CN back to the partner: ``GET /partners/by-certificate?subject=<CN>``).
DEMO_PARTNERS: dict[str, str] = {"p-acme": "p-acme", "p-globex": "p-globex"}
VALIDITY = dt.timedelta(days=30)


@dataclass(frozen=True)
class KeyPair:
    cert: Path
    key: Path


@dataclass(frozen=True)
class DemoCerts:
    directory: Path
    ca: KeyPair
    server: KeyPair
    clients: dict[str, KeyPair]

    def client(self, name: str) -> KeyPair:
        return self.clients[name]


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "waveform demo"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    os.replace(tmp, path)


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    os.replace(tmp, path)


def make_ca(common_name: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A self-signed CA that may only sign end-entity certificates."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    return cert, key


def issue(
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    common_name: str,
    *,
    server: bool = False,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """An end-entity certificate: a server one (SAN 127.0.0.1 and localhost) or a client one."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or now - dt.timedelta(minutes=5))
        .not_valid_after(not_after or now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
    )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
    return builder.sign(ca_key, hashes.SHA256()), key


def write_pair(directory: Path, stem: str, cert: x509.Certificate,
               key: ec.EllipticCurvePrivateKey) -> KeyPair:  # fmt: skip
    pair = KeyPair(directory / f"{stem}.crt", directory / f"{stem}.key")
    _write_key(pair.key, key)
    _write_cert(pair.cert, cert)
    return pair


def _still_valid(path: Path) -> bool:
    try:
        cert = x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError):
        return False
    return cert.not_valid_after_utc - dt.datetime.now(dt.UTC) > dt.timedelta(days=1)


def ensure_demo_certs(directory: Path, partners: dict[str, str] | None = None) -> DemoCerts:
    """The demo CA, server and partner client certificates in ``directory``; generated when
    missing or about to expire (then all of them, so they always chain to the same CA)."""
    partners = DEMO_PARTNERS if partners is None else partners
    directory.mkdir(parents=True, exist_ok=True)
    ca = KeyPair(directory / "ca.crt", directory / "ca.key")
    server = KeyPair(directory / "server.crt", directory / "server.key")
    clients = {
        name: KeyPair(directory / f"partner-{name}.crt", directory / f"partner-{name}.key")
        for name in partners
    }
    every = [ca, server, *clients.values()]
    if all(p.key.exists() and _still_valid(p.cert) for p in every):
        return DemoCerts(directory, ca, server, clients)
    ca_cert, ca_key = make_ca("waveform demo partner CA")
    write_pair(directory, "ca", ca_cert, ca_key)
    write_pair(directory, "server", *issue(ca_cert, ca_key, "localhost", server=True))
    for name, common_name in partners.items():
        write_pair(directory, f"partner-{name}", *issue(ca_cert, ca_key, common_name))
    return DemoCerts(directory, ca, server, clients)
