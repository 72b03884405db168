"""stream: newest-first feed of followees' posts and reposts, walked by opaque cursor."""

from __future__ import annotations

import itertools
import sqlite3

import httpx
import pytest

from waveform.services.stream import READINESS, READY_FLAG, mark_ready
from waveform.supervisor import Platform


def walk(http: httpx.Client, p: Platform, user: str, limit: int) -> list[dict[str, str]]:
    items: list[dict[str, str]] = []
    cursor: str | None = None
    while True:
        params: dict[str, str | int] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        body = http.get(f"{p.url('stream')}/stream/{user}", params=params).json()
        items += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            return items


def test_cursor_pagination_walks_the_whole_feed_once(
    platform: Platform, http: httpx.Client
) -> None:
    small = walk(http, platform, "u1", 7)
    big = walk(http, platform, "u1", 50)
    ids = [i["id"] for i in small]
    assert len(ids) == len(set(ids)) > 7
    assert ids == [i["id"] for i in big]
    keys = [(i["created_at"], int(i["id"][1:])) for i in small]
    assert keys == sorted(keys, reverse=True)


def test_feed_is_posts_and_reposts_of_followees(platform: Platform, http: httpx.Client) -> None:
    followings = http.get(f"{platform.url('social')}/social/u1/followings").json()["items"]
    followees = {f["user_id"] for f in followings}
    items = walk(http, platform, "u1", 50)
    assert {i["actor_id"] for i in items} <= followees
    assert {i["type"] for i in items} == {"track_post", "repost"}
    top = [i["track_id"] for i in items[:6]]
    assert "t3" in top and "t2" in top  # stream does not filter visibility


def test_default_limit_is_20(platform: Platform, http: httpx.Client) -> None:
    body = http.get(f"{platform.url('stream')}/stream/u1").json()
    assert len(body["items"]) == 20 and body["next_cursor"]


@pytest.mark.parametrize("cursor", ["a", "W10", "bm90LWpzb24"])
def test_a_cursor_the_service_did_not_issue_is_a_400_problem(
    platform: Platform, http: httpx.Client, cursor: str
) -> None:
    response = http.get(f"{platform.url('stream')}/stream/u1", params={"cursor": cursor})
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("order", list(itertools.permutations(READY_FLAG)))
def test_a_post_is_announced_once_when_the_last_of_post_rights_and_media_arrives(
    order: tuple[str, ...],
) -> None:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.executescript(READINESS)
    replayed = [*order, *order]  # every event delivered twice
    announced = [mark_ready(conn, "t1", event) for event in replayed]
    assert announced == [False, False, True, False, False, False]
