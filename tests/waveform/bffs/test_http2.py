"""The mobile and partner BFFs over HTTP/2: h2 over TLS with the demo CA, h2c on the mobile
port, the same home and headers as over HTTP/1.1."""

from __future__ import annotations

import ssl

import httpx

from waveform.supervisor import Platform

from .caller import Caller

#: Fields that differ between any two answers, whatever the protocol.
PER_ANSWER = {"date", "x-request-id", "age", "ratelimit"}


def _fields(response: httpx.Response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k not in PER_ANSWER}


def _tls(platform: Platform, partner: str | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(platform.certs.ca.cert))
    if partner is not None:
        pair = platform.certs.client(partner)
        context.load_cert_chain(str(pair.cert), str(pair.key))
    return context


def test_the_mobile_home_is_the_same_over_h2_tls_h2c_and_http11(
    platform: Platform, mobile_alice: Caller
) -> None:
    auth = {"authorization": f"Bearer {mobile_alice.token}"}
    mobile_alice.get("/v1/home")  # fills the edge cache: each answer below is a hit
    tls_url = f"https://localhost:{platform.tls_ports['mobile']}/v1/home"
    with httpx.Client(http2=True, verify=_tls(platform)) as h2:
        over_tls = h2.get(tls_url, headers=auth)
    with httpx.Client(http1=False, http2=True) as h2c:
        over_h2c = h2c.get(f"{platform.url('mobile')}/v1/home", headers=auth)
    over_h1 = mobile_alice.get("/v1/home")
    assert (over_tls.http_version, over_h2c.http_version) == ("HTTP/2", "HTTP/2")
    assert over_tls.json() == over_h2c.json() == over_h1.json()
    assert _fields(over_tls) == _fields(over_h2c) == _fields(over_h1)


def test_the_partner_mtls_listener_offers_h2(platform: Platform) -> None:
    with httpx.Client(http2=True, verify=_tls(platform, "p-acme")) as client:
        response = client.get(f"{platform.url('partner')}/v1/partner")
    assert (response.http_version, response.status_code) == ("HTTP/2", 200)
