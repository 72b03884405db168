"""The edge cache with compression on: a fill stores each coding's variant, a hit is answered
from the variant asked for (compressing nothing), each variant has its own ETag and 304."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import msgspec
import pytest
from harness import call

from tailor import BFF, Request, Response, json_response
from tailor.cache import CachePolicy
from tailor.cache.entry import CacheEntry, Variant, decode_entry, encode_entry
from tailor.compression.codecs import decode
from tailor.compression.represent import Representations

CODINGS = ("zstd", "br", "gzip")
PUBLIC = CachePolicy(scope="public", ttl_s=60)


class Catalog:
    """A cached route whose every run answers a new version (so a hit is told from a run)."""

    def __init__(self, make_bff: Any, config: dict[str, Any] | None = None) -> None:
        self.runs = 0
        self.gate: asyncio.Event | None = None
        self.entered = asyncio.Event()
        self.bff: BFF = make_bff(
            {"auth": {"anonymous": True}, "compression": {"enabled": True}, **(config or {})}
        )

        @self.bff.get("/charts", auth=False, cache=PUBLIC)
        async def charts(request: Request) -> Response:
            self.runs += 1
            self.entered.set()
            if self.gate is not None:
                await self.gate.wait()
            return json_response(self.body(self.runs))

        @self.bff.get("/session", auth=False, cache=PUBLIC)
        async def session(request: Request) -> Response:
            response = json_response(self.body(0))
            response.headers.append(("set-cookie", "s=1"))
            return response

    @staticmethod
    def body(version: int) -> dict[str, Any]:
        return {"version": version, "tracks": [{"id": f"t{i}", "plays": i} for i in range(150)]}

    async def get(self, coding: str | None = None, **headers: str) -> Response:
        if coding is not None:
            headers["accept-encoding"] = coding
        return await call(self.bff, path="/charts", headers=headers)


def decoded(response: Response) -> Any:
    coding = response.header("content-encoding")
    body = response.body if coding is None else decode(coding, response.body, limit=1 << 20)
    return json.loads(body or b"")


@pytest.mark.parametrize("coding", CODINGS)
async def test_a_hit_in_a_coding_is_the_variant_stored_at_fill(make_bff, coding: str) -> None:
    catalog = Catalog(make_bff)
    await catalog.get()
    hit = await catalog.get(coding)
    assert (hit.header("x-cache"), hit.header("content-encoding")) == ("hit", coding)
    assert decoded(hit) == Catalog.body(1)
    assert catalog.runs == 1


async def test_a_compressed_hit_compresses_nothing(make_bff, monkeypatch) -> None:
    catalog = Catalog(make_bff)
    await catalog.get()

    def refuse(*args: object) -> bytes:
        raise AssertionError("a hit must not compress")

    monkeypatch.setattr(Representations, "encode", refuse)
    monkeypatch.setattr(Representations, "variants", refuse)
    hit = await catalog.get("zstd")
    assert (hit.status, hit.header("content-encoding")) == (200, "zstd")


async def test_the_miss_is_answered_in_the_coding_asked_with_the_variants_etag(make_bff) -> None:
    catalog = Catalog(make_bff)
    miss = await catalog.get("br")
    hit = await catalog.get("br")
    assert (miss.header("x-cache"), miss.header("content-encoding")) == ("miss", "br")
    assert miss.header("etag") == hit.header("etag")
    assert miss.body == hit.body


async def test_every_answer_from_a_compressible_entry_varies_by_accept_encoding(
    make_bff,
) -> None:
    catalog = Catalog(make_bff)
    answers = [await catalog.get(), await catalog.get(), await catalog.get("gzip")]
    assert [a.header("vary") for a in answers] == ["accept-encoding"] * 3


async def test_each_variant_has_its_own_etag(make_bff) -> None:
    catalog = Catalog(make_bff)
    await catalog.get()
    tags = [(await catalog.get(c)).header("etag") for c in ("identity", *CODINGS)]
    assert len(set(tags)) == 4


async def test_a_304_is_per_variant(make_bff) -> None:
    catalog = Catalog(make_bff)
    zstd_tag = (await catalog.get("zstd")).header("etag")
    assert zstd_tag is not None
    same = await catalog.get("zstd", **{"if-none-match": zstd_tag})
    other = await catalog.get("gzip", **{"if-none-match": zstd_tag})
    plain = await catalog.get(**{"if-none-match": zstd_tag})
    assert (same.status, same.header("etag"), same.body) == (304, zstd_tag, b"")
    assert (other.status, other.header("content-encoding")) == (200, "gzip")
    assert (plain.status, plain.header("content-encoding")) == (200, None)


async def test_callers_waiting_on_one_fill_each_get_their_own_coding(make_bff) -> None:
    catalog = Catalog(make_bff)
    catalog.gate = asyncio.Event()
    pending = [asyncio.ensure_future(catalog.get(c)) for c in (None, *CODINGS)]
    await catalog.entered.wait()  # the first is in the handler; the others joined its run first
    catalog.gate.set()
    answers = await asyncio.gather(*pending)
    assert [a.header("content-encoding") for a in answers] == [None, *CODINGS]
    assert [decoded(a) for a in answers] == [Catalog.body(1)] * 4
    assert catalog.runs == 1


async def test_an_answer_a_fill_does_not_keep_goes_out_in_identity_with_vary(make_bff) -> None:
    catalog = Catalog(make_bff)
    response = await call(catalog.bff, path="/session", headers={"accept-encoding": "zstd"})
    assert (response.header("content-encoding"), response.header("vary")) == (
        None,
        "accept-encoding",
    )
    assert decoded(response) == Catalog.body(0)


async def test_an_accept_encoding_ruling_out_everything_is_406_on_a_hit_too(make_bff) -> None:
    catalog = Catalog(make_bff)
    await catalog.get()
    refused = await catalog.get("identity;q=0, *;q=0")
    assert refused.status == 406


def test_an_entry_keeps_its_variants_through_the_shared_backends_encoding() -> None:
    entry = CacheEntry(
        200, b"{}", [], '"i"', stored_at=1.0, ttl_s=60, swr_s=0, sie_s=0,
        variants={"zstd": Variant("zstd", b"z", '"z"')},
    )  # fmt: skip
    assert decode_entry(encode_entry(entry)).variants == {"zstd": Variant("zstd", b"z", '"z"')}


def test_an_entry_stored_before_variants_existed_decodes_with_none() -> None:
    old = msgspec.msgpack.encode([200, b"{}", [], '"i"', 1.0, 60.0, 0.0, 0.0, ["t"]])
    assert decode_entry(old).variants == {}
