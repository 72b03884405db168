"""Partner attacks: one partner's credential against another's data, revoked and unknown
keys, and client certificates from a foreign CA or for an unknown subject."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from waveform.certs import issue, make_ca, write_pair
from waveform.seed import token_client_secret
from waveform.supervisor import Platform

from .conftest import assert_denied, bearer, partner_client

ACME_TRACK, GLOBEX_TRACK = "t1", "t4"  # labels fixed by the seed for every scale


def test_acme_reads_its_own_data_so_the_refusals_below_mean_something(
    platform: Platform, acme_key: str
) -> None:
    with partner_client(platform) as client:
        response = client.get(f"{platform.url('partner')}/v1/tracks/{ACME_TRACK}",
                              headers={"x-api-key": acme_key})  # fmt: skip
    assert response.status_code == 200
    assert response.json()["label"] == "Acme Records"


@pytest.mark.parametrize("path", [f"/v1/tracks/{GLOBEX_TRACK}", "/v1/partners/p-globex"])
def test_an_acme_api_key_cannot_read_globex_data(
    platform: Platform, acme_key: str, path: str
) -> None:
    with partner_client(platform) as client:
        response = client.get(f"{platform.url('partner')}{path}", headers={"x-api-key": acme_key})
    assert_denied(response, 404)


def test_another_partners_data_looks_exactly_like_missing_data(
    platform: Platform, acme_key: str
) -> None:
    with partner_client(platform) as client:
        base, key = platform.url("partner"), {"x-api-key": acme_key}
        other = client.get(f"{base}/v1/partners/p-globex", headers=key)
        missing = client.get(f"{base}/v1/partners/p-nobody", headers=key)
    assert assert_denied(other, 404) == assert_denied(missing, 404)


def test_another_labels_track_looks_exactly_like_a_missing_track(
    platform: Platform, acme_key: str
) -> None:
    with partner_client(platform) as client:
        base, key = platform.url("partner"), {"x-api-key": acme_key}
        other = client.get(f"{base}/v1/tracks/{GLOBEX_TRACK}", headers=key)
        missing = client.get(f"{base}/v1/tracks/t999999999", headers=key)
    assert assert_denied(other, 404) == assert_denied(missing, 404)


def _partner_bff_token(platform: Platform, http: httpx.Client, partner: str) -> str:
    """The internal token the partner BFF obtains for a partner's call to rights (exchanged
    with the BFF's own client credentials, as it does)."""
    form = {"grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
            "subject_token": f"partner:{partner}", "subject_token_type": "urn:waveform:subject",
            "audience": "rights"}  # fmt: skip
    secret = token_client_secret(platform.seed, "bff-partner")
    response = http.post(f"{platform.url('tokens')}/token", data=form,
                         auth=httpx.BasicAuth("bff-partner", secret))  # fmt: skip
    token: str = response.json()["access_token"]
    return token


@pytest.mark.parametrize("params", [{}, {"label": "Globex Music"}], ids=["no-label", "label"])
def test_the_partner_bffs_token_for_acme_cannot_read_globex_rights_even_past_the_bff(
    platform: Platform, http: httpx.Client, params: dict[str, str]
) -> None:
    # A partner-facing call that leaves out label= (or names the other label) straight to
    # the rights service: the rule holds there, not only in what the BFF chooses to send.
    token = _partner_bff_token(platform, http, "p-acme")
    response = http.get(f"{platform.url('rights')}/rights/{GLOBEX_TRACK}", params=params,
                        headers=bearer(token))  # fmt: skip
    assert_denied(response, 404)


def test_a_globex_certificate_cannot_read_acme_data(platform: Platform) -> None:
    pair = platform.certs.client("p-globex")
    with partner_client(platform, pair.cert, pair.key) as client:
        own = client.get(f"{platform.url('partner')}/v1/tracks/{GLOBEX_TRACK}")
        other = client.get(f"{platform.url('partner')}/v1/tracks/{ACME_TRACK}")
    assert own.status_code == 200 and own.json()["label"] == "Globex Music"
    assert_denied(other, 404)


def test_a_certificate_from_a_foreign_ca_never_completes_the_handshake(
    platform: Platform, tmp_path: Path
) -> None:
    rogue_ca, rogue_key = make_ca("rogue CA")
    pair = write_pair(tmp_path, "rogue-acme", *issue(rogue_ca, rogue_key, "p-acme"))
    with (
        partner_client(platform, pair.cert, pair.key) as client,
        pytest.raises((httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError)),
    ):
        client.get(f"{platform.url('partner')}/v1/partner")


def test_a_valid_certificate_for_an_unknown_subject_is_a_401(
    platform: Platform, tmp_path: Path
) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    certs = platform.certs
    ca = x509.load_pem_x509_certificate(certs.ca.cert.read_bytes())
    ca_key = serialization.load_pem_private_key(certs.ca.key.read_bytes(), password=None)
    pair = write_pair(tmp_path, "stranger", *issue(ca, ca_key, "p-stranger"))  # type: ignore[arg-type]
    with partner_client(platform, pair.cert, pair.key) as client:
        assert_denied(client.get(f"{platform.url('partner')}/v1/partner"), 401)


def test_the_partner_api_is_not_served_over_plain_http(platform: Platform) -> None:
    plain = platform.url("partner").replace("https://", "http://")
    with httpx.Client(timeout=5) as client:
        response = None
        try:
            response = client.get(f"{plain}/v1/partner")
        except httpx.HTTPError:
            return  # refused outright: fine
        assert response.status_code >= 400 and "partner_id" not in response.text


def test_an_unknown_key_and_a_revoked_key_get_the_same_401(platform: Platform) -> None:
    admin = bearer(platform.internal_token("accounts", scope="admin"))
    accounts = platform.url("accounts")
    with httpx.Client(timeout=10) as raw:
        created = raw.post(f"{accounts}/admin/partners/p-acme/keys", headers=admin).json()
        raw.delete(f"{accounts}/admin/partners/p-acme/keys/{created['key_id']}", headers=admin)
    with partner_client(platform) as client:
        base = platform.url("partner")
        revoked = client.get(f"{base}/v1/partner", headers={"x-api-key": created["api_key"]})
        unknown = client.get(f"{base}/v1/partner", headers={"x-api-key": "wf_live_" + "z" * 43})
    assert assert_denied(revoked, 401) == assert_denied(unknown, 401)


@pytest.mark.parametrize("value", ["", "x", "' OR 1=1 --", "../../etc", "k" * 500])
def test_a_malformed_api_key_is_a_401_never_a_500(platform: Platform, value: str) -> None:
    with partner_client(platform) as client:
        response = client.get(f"{platform.url('partner')}/v1/partner",
                              headers={"x-api-key": value})  # fmt: skip
    assert_denied(response, 401)
