"""Pact contracts from plans: one interaction per part that calls, with the request the part
computes and the consumed struct's fields matched by type; the can-i-deploy matrix."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import msgspec

from tailor import Inputs, Part, Plan, Request, Response
from tailor.govern.contracts import (
    Interaction,
    Verdict,
    matrix,
    pact_parties,
    plan_interactions,
    write_pacts,
)
from tailor.routing import Route


class Item(msgspec.Struct):
    track_id: str


class Feed(msgspec.Struct):
    items: list[Item]
    next_cursor: str | None = None


class Tracks(msgspec.Struct):
    ids: list[str]


def _ids(inputs: Inputs) -> dict[str, str | int] | None:
    ids = [i.track_id for i in inputs["feed"].items]
    return {"ids": ",".join(ids)} if ids else None


PLAN = Plan(
    parts=(
        Part("feed", "stream", "/stream/{user_id}", into=Feed, params={"limit": 2}),
        Part("tracks", "catalog", "/tracks", into=Tracks, params=_ids, needs=("feed",),
             headers=lambda i: [("x-viewer-country", "DE")]),
    ),
)  # fmt: skip
ANSWERS = {
    "stream": b'{"items": [{"track_id": "t1"}, {"track_id": "t2"}], "other": 1}',
    "catalog": b'{"ids": ["t1", "t2"]}',
}


async def _handler(request: Request) -> Response:
    return Response(204)


def _fetch(
    upstream: str, path: str, params: Mapping[str, str | int], headers: Sequence[tuple[str, str]]
) -> bytes:
    return ANSWERS[upstream]


def _interactions(answers: dict[str, bytes] | None = None) -> list[Interaction]:
    if answers is not None:
        ANSWERS.update(answers)
    route = Route("GET", "/home", _handler, plan=PLAN)
    return plan_interactions(
        "mobile", route, {"user_id": "u1"}, _fetch, state="world", state_params={"subject": "u1"}
    )


def test_each_part_is_an_interaction_with_the_request_the_part_computes() -> None:
    feed, tracks = _interactions()
    assert (feed.provider, feed.path, dict(feed.query)) == ("stream", "/stream/u1", {"limit": "2"})
    assert (tracks.provider, tracks.path) == ("catalog", "/tracks")
    assert dict(tracks.query) == {"ids": "t1,t2"}  # from the feed's example answer
    assert list(tracks.headers) == [("x-viewer-country", "DE")]
    assert tracks.description == "GET /home: tracks"


def test_a_part_that_makes_no_call_has_no_interaction() -> None:
    try:
        found = _interactions({"stream": b'{"items": []}'})
    finally:
        ANSWERS["stream"] = b'{"items": [{"track_id": "t1"}, {"track_id": "t2"}]}'
    assert [i.provider for i in found] == ["stream"]


def test_a_pact_file_per_consumer_and_provider_matches_the_consumed_fields_by_type(
    tmp_path: Path,
) -> None:
    paths = write_pacts(_interactions(), tmp_path)
    assert [p.name for p in paths] == ["mobile-catalog.json", "mobile-stream.json"]
    pact = json.loads((tmp_path / "mobile-stream.json").read_text())
    assert pact["metadata"]["pactSpecification"]["version"] == "4.0"
    [interaction] = pact["interactions"]
    assert interaction["providerStates"] == [{"name": "world", "params": {"subject": "u1"}}]
    body = interaction["response"]["body"]["content"]
    assert body == {"items": [{"track_id": "t1"}]}  # only what the struct reads; no null cursor
    rules = interaction["response"]["matchingRules"]["body"]
    assert rules["$.items"]["matchers"] == [{"match": "type", "min": 1}]
    assert rules["$.items[*].track_id"]["matchers"] == [{"match": "type"}]
    assert pact_parties(tmp_path / "mobile-stream.json") == ("mobile", "stream", "u1")


def test_the_matrix_has_a_row_per_consumer_and_provider_with_its_result() -> None:
    table = matrix([Verdict("mobile", "users", True), Verdict("web", "catalog", False)])
    assert table.splitlines() == [
        "consumer  provider  result",
        "mobile    users     verified",
        "web       catalog   FAILED",
    ]
