"""The partner API BFF on the running platform: over TLS, by API key or client certificate."""

from __future__ import annotations

import ssl

import httpx
import pytest

from waveform.seed import partner_demo_key
from waveform.supervisor import Platform

from .test_bad_input import NOT_ISSUED, _is_problem


def _client(platform: Platform, partner: str | None = None) -> httpx.Client:
    context = ssl.create_default_context(cafile=str(platform.certs.ca.cert))
    if partner is not None:
        pair = platform.certs.client(partner)
        context.load_cert_chain(str(pair.cert), str(pair.key))
    return httpx.Client(verify=context, timeout=10)


def test_an_api_key_authenticates_its_partner(platform: Platform) -> None:
    with _client(platform) as client:
        response = client.get(
            f"{platform.url('partner')}/v1/partner",
            headers={"x-api-key": partner_demo_key(platform.seed, "p-acme")},
        )
    assert response.status_code == 200
    assert response.json() == {"partner_id": "p-acme", "name": "Acme Records",
                               "label": "Acme Records", "authenticated_by": "api_key"}  # fmt: skip


def test_a_client_certificate_authenticates_its_partner(platform: Platform) -> None:
    with _client(platform, "p-globex") as client:
        response = client.get(f"{platform.url('partner')}/v1/partner")
    assert response.status_code == 200
    assert response.json()["partner_id"] == "p-globex"
    assert response.json()["authenticated_by"] == "mtls"


def test_a_partner_reads_its_own_tracks_licensing_terms(platform: Platform) -> None:
    with _client(platform, "p-acme") as client:
        response = client.get(f"{platform.url('partner')}/v1/tracks/t5")
    body = response.json()
    assert response.status_code == 200
    assert body["label"] == "Acme Records" and "royalty_rate" in body


def test_no_credential_over_tls_is_a_401(platform: Platform) -> None:
    with _client(platform) as client:
        response = client.get(f"{platform.url('partner')}/v1/partner")
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"


def test_the_server_certificate_verifies_against_the_demo_ca_for_127_0_0_1(
    platform: Platform,
) -> None:
    # A default context checks the hostname: the demo server certificate names 127.0.0.1.
    with _client(platform) as client:
        assert client.get(f"{platform.url('partner')}/v1/partner").status_code == 401


@pytest.mark.parametrize("cursor", NOT_ISSUED)
def test_a_catalog_cursor_the_rights_service_did_not_issue_is_a_400_naming_it(
    platform: Platform, cursor: str
) -> None:
    with _client(platform, "p-globex") as client:
        response = client.get(f"{platform.url('partner')}/v1/catalog?cursor={cursor}")
    assert _is_problem(response, 400)["parameter"] == "cursor"
