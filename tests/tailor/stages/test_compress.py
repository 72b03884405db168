"""The compress stage in a BFF: negotiated response codings with Vary and their own ETags,
what is never compressed, compressed request bodies decoded within a cap, and the refusals
(406, 415, 413, 400)."""

from __future__ import annotations

import gzip
import json
from typing import Any

import pytest
from harness import assert_problem, call

from tailor import BFF, Request, Response, json_response
from tailor.compression.codecs import decode, encoder
from tailor.pipeline import stage_order

ON = {"compression": {"enabled": True, "max_decoded_bytes": 32 * 1024}}
DATA = {"tracks": [{"id": f"t{i}", "title": f"track number {i}"} for i in range(100)]}


def build(make_bff: Any, config: dict[str, Any] | None = None) -> BFF:
    bff: BFF = make_bff(ON if config is None else config)

    @bff.get("/tracks", auth=False)
    async def tracks(request: Request) -> Response:
        return json_response(DATA)

    @bff.get("/tagged", auth=False)
    async def tagged(request: Request) -> Response:
        response = json_response(DATA)
        response.headers.append(("etag", request.query.get("etag", '"v1"')))
        return response

    @bff.get("/events", auth=False)
    async def events(request: Request) -> Response:
        return Response(200, b"data: tick\n\n" * 400, [("content-type", "text/event-stream")])

    @bff.get("/zipped", auth=False)
    async def zipped(request: Request) -> Response:
        body = gzip.compress(json.dumps(DATA).encode())
        return Response(
            200, body, [("content-type", "application/json"), ("content-encoding", "gzip")]
        )

    @bff.post("/echo", auth=False)
    async def echo(request: Request) -> Response:
        return json_response({"length": len(request.body), "body": request.body.decode()})

    return bff


def accepting(coding: str) -> dict[str, str]:
    return {"accept-encoding": coding}


@pytest.mark.parametrize("coding", ["zstd", "br", "gzip"])
async def test_a_response_is_sent_in_the_coding_asked_and_decodes_to_the_same_json(
    make_bff, coding: str
) -> None:
    response = await call(build(make_bff), path="/tracks", headers=accepting(coding))
    assert response.header("content-encoding") == coding
    assert json.loads(decode(coding, response.body, limit=1 << 20) or b"") == DATA


async def test_the_servers_preference_decides_between_codings_of_equal_weight(make_bff) -> None:
    bff = build(make_bff, {"compression": {"enabled": True, "codings": ["gzip", "br"]}})
    response = await call(bff, path="/tracks", headers=accepting("br, gzip, zstd"))
    assert response.header("content-encoding") == "gzip"


async def test_a_compressible_response_varies_by_accept_encoding_even_in_identity(
    make_bff,
) -> None:
    bff = build(make_bff)
    plain = await call(bff, path="/tracks")
    zipped = await call(bff, path="/tracks", headers=accepting("zstd"))
    assert plain.header("content-encoding") is None
    assert json.loads(plain.body) == DATA
    assert plain.header("vary") == zipped.header("vary") == "accept-encoding"


async def test_a_small_response_is_neither_compressed_nor_varied(make_bff) -> None:
    bff = build(make_bff, {"compression": {"enabled": True, "min_bytes": 100_000}})
    response = await call(bff, path="/tracks", headers=accepting("zstd"))
    assert response.header("content-encoding") is None
    assert response.header("vary") is None


async def test_an_event_stream_is_never_compressed(make_bff) -> None:
    response = await call(build(make_bff), path="/events", headers=accepting("gzip"))
    assert response.header("content-encoding") is None
    assert response.body == b"data: tick\n\n" * 400


async def test_a_response_already_encoded_is_not_encoded_again(make_bff) -> None:
    response = await call(build(make_bff), path="/zipped", headers=accepting("zstd, gzip"))
    assert response.header("content-encoding") == "gzip"
    assert json.loads(gzip.decompress(response.body)) == DATA


async def test_each_coding_has_its_own_strong_etag(make_bff) -> None:
    bff = build(make_bff)
    tags = {
        coding: (await call(bff, path="/tagged", headers=accepting(coding))).header("etag")
        for coding in ("identity", "zstd", "br", "gzip")
    }
    assert tags["identity"] == '"v1"'
    assert len(set(tags.values())) == 4
    assert not any(tag.startswith("W/") for tag in tags.values() if tag)


async def test_a_weak_etag_is_kept_in_every_coding(make_bff) -> None:
    response = await call(
        build(make_bff), path="/tagged", query="etag=W/%22v1%22", headers=accepting("br")
    )
    assert (response.header("content-encoding"), response.header("etag")) == ("br", 'W/"v1"')


async def test_an_accept_encoding_ruling_out_everything_is_406(make_bff) -> None:
    response = await call(build(make_bff), path="/tracks", headers=accepting("identity;q=0, *;q=0"))
    problem = assert_problem(response, 406)
    assert "zstd, br, gzip, identity" in problem["detail"]


@pytest.mark.parametrize("coding", ["zstd", "br", "gzip"])
async def test_a_compressed_request_body_reaches_the_handler_decoded(make_bff, coding) -> None:
    text = "hello " * 1000
    response = await call(
        build(make_bff),
        "POST",
        "/echo",
        headers={"content-encoding": coding},
        body=encoder(coding, 5)(text.encode()),
    )
    assert response.status == 200
    assert json.loads(response.body) == {"length": len(text), "body": text}


async def test_a_request_body_decoding_past_the_cap_is_413(make_bff) -> None:
    bomb = encoder("gzip", 1)(b"a" * (4 * 1024 * 1024))
    response = await call(
        build(make_bff), "POST", "/echo", headers={"content-encoding": "gzip"}, body=bomb
    )
    assert "decodes to over 32768 bytes" in assert_problem(response, 413)["detail"]


async def test_an_unsupported_request_coding_is_415_naming_the_supported_ones(make_bff) -> None:
    response = await call(
        build(make_bff), "POST", "/echo", headers={"content-encoding": "compress"}, body=b"x"
    )
    assert_problem(response, 415)
    assert response.header("accept-encoding") == "zstd, br, gzip"


async def test_a_request_body_that_is_not_its_coding_is_400(make_bff) -> None:
    response = await call(
        build(make_bff), "POST", "/echo", headers={"content-encoding": "gzip"}, body=b"plain"
    )
    assert_problem(response, 400)


async def test_with_compression_off_no_stage_is_built_and_nothing_is_encoded(make_bff) -> None:
    bff = build(make_bff, {})
    response = await call(bff, path="/tracks", headers=accepting("gzip"))
    assert "CompressStage" not in bff.stages
    assert response.header("content-encoding") is None


def test_the_stage_sits_between_cache_and_handler_in_the_one_order() -> None:
    names = [stage.name for stage in stage_order()]
    at = names.index("compress")
    assert names[at - 1 : at + 2] == ["cache", "compress", "handler"]
