"""rights: ``GET /rights?label=`` pages through one label's tracks by an opaque cursor."""

from __future__ import annotations

import httpx
import pytest

from waveform.seed import World
from waveform.supervisor import Platform

from .conftest import SCALE

LABEL = "Acme Records"


def _page(platform: Platform, http: httpx.Client, **params: str | int) -> httpx.Response:
    return http.get(f"{platform.url('rights')}/rights", params=params)


def test_walking_a_labels_pages_yields_each_of_its_tracks_once(
    platform: Platform, http: httpx.Client
) -> None:
    world = World(seed=platform.seed, scale=SCALE)
    expected = {r["track_id"] for r in world.rights if r["label"] == LABEL}
    seen: list[str] = []
    cursor: str | None = None
    for _ in range(1000):  # bounded: a cursor that never ends fails below
        params: dict[str, str | int] = {"label": LABEL, "limit": 37}
        if cursor:
            params["cursor"] = cursor
        body = _page(platform, http, **params).json()
        assert len(body["items"]) <= 37
        assert all(item["label"] == LABEL for item in body["items"])
        seen += [item["track_id"] for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) and set(seen) == expected


def test_an_unknown_label_is_an_empty_page(platform: Platform, http: httpx.Client) -> None:
    body = _page(platform, http, label="No Such Label").json()
    assert body["items"] == [] and body["next_cursor"] is None


@pytest.mark.parametrize(
    "params",
    [{"label": LABEL, "cursor": "not-ours"}, {"label": LABEL, "ids": "t1"}, {},
     {"label": LABEL, "limit": 0}],
)  # fmt: skip
def test_bad_label_queries_are_400_problems(
    platform: Platform, http: httpx.Client, params: dict[str, str | int]
) -> None:
    response = _page(platform, http, **params)
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
