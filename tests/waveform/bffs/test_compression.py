"""The demo's mobile home, compressed: zstd on request decodes to the identity JSON, each
coding has its own ETag, and a 304 answers only the coding whose ETag the app holds."""

from __future__ import annotations

import json
from typing import Any

import httpx

from tailor.compression.codecs import decode

from .caller import Caller


def home(caller: Caller, **headers: str) -> tuple[httpx.Response, bytes]:
    """GET /v1/home with ``headers``, and the body exactly as sent (not decoded by httpx)."""
    headers["authorization"] = f"Bearer {caller.token}"
    with caller.http.stream("GET", f"{caller.base}/v1/home", headers=headers) as response:
        return response, b"".join(response.iter_raw())


def as_json(response: httpx.Response, raw: bytes) -> Any:
    coding = response.headers.get("content-encoding")
    return json.loads(raw if coding is None else decode(coding, raw, limit=1 << 22) or b"")


def test_the_home_in_zstd_decodes_to_the_identity_json(mobile_alice: Caller) -> None:
    plain, plain_raw = home(mobile_alice, **{"accept-encoding": "identity"})
    zstd, zstd_raw = home(mobile_alice, **{"accept-encoding": "zstd"})
    assert (plain.status_code, zstd.status_code) == (200, 200)
    assert (plain.headers.get("content-encoding"), zstd.headers["content-encoding"]) == (
        None,
        "zstd",
    )
    assert as_json(zstd, zstd_raw) == as_json(plain, plain_raw)
    assert len(zstd_raw) * 3 < len(plain_raw)
    assert plain.headers["vary"] == zstd.headers["vary"] == "accept-encoding"


def test_each_coding_of_the_home_has_its_own_etag(mobile_alice: Caller) -> None:
    tags = {
        coding: home(mobile_alice, **{"accept-encoding": coding})[0].headers["etag"]
        for coding in ("identity", "zstd", "br", "gzip")
    }
    assert len(set(tags.values())) == 4


def test_a_304_answers_only_the_coding_whose_etag_the_app_holds(mobile_alice: Caller) -> None:
    zstd_tag = home(mobile_alice, **{"accept-encoding": "zstd"})[0].headers["etag"]
    same, _ = home(mobile_alice, **{"accept-encoding": "zstd", "if-none-match": zstd_tag})
    other, raw = home(mobile_alice, **{"accept-encoding": "gzip", "if-none-match": zstd_tag})
    assert same.status_code == 304
    assert (other.status_code, other.headers["content-encoding"]) == (200, "gzip")
    assert as_json(other, raw)["me"]["id"] == "u1"
