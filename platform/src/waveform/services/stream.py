"""stream (9006): a user's feed of track posts and reposts by the users they follow.

The service keeps its own denormalized copy of the follow graph and of every post and
repost (an ``activity`` table), and reads a feed by joining them (fan-out on read). It does
not filter visibility: that is the value-added catalog's job.

It learns new posts and follows from domain events (``track.posted``, ``user.followed``,
``user.unfollowed`` on the event stream) and, since it is the one that knows who follows
whom, tells the BFF caches which feeds changed (``feed:<follower>`` for each follower).

A new post is not visible until rights and media have built their rows from the same
``track.posted`` event, and nothing orders those consumers. So the followers' feeds are named
once the post is visible: when this service holds the post and rights and media have said
their rows exist (``rights.ready``, ``media.ready``), in whatever order the three arrive
(:func:`mark_ready`), and only once per post; then it emits ``track.published``
{track_id, owner_id} for whoever announces new posts (the web BFF's live feed). Every
handler is idempotent and the read position is kept in this service's database, so a
replayed event changes nothing and a restart misses nothing.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import sqlite3

import msgspec
from fastapi import FastAPI, Query
from starlette.responses import Response

from waveform.seed import World
from waveform.services import models as m
from waveform.services.common import (
    bad_request,
    create_app,
    insert_rows,
    json_response,
    not_found,
    returns,
    run_service,
)
from waveform.services.events import Events, SqliteCursor

SCHEMA = """
CREATE TABLE users (id TEXT PRIMARY KEY);
CREATE TABLE follows (follower_id TEXT NOT NULL, followee_id TEXT NOT NULL,
                      created_at TEXT NOT NULL, PRIMARY KEY (follower_id, followee_id));
CREATE TABLE activity (seq INTEGER PRIMARY KEY, type TEXT NOT NULL, actor_id TEXT NOT NULL,
                       track_id TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE INDEX activity_actor ON activity (actor_id, created_at, seq);
"""
MAX_LIMIT = 50


def load(conn: sqlite3.Connection, world: World) -> None:
    conn.executemany(
        "INSERT INTO users VALUES (?)", [(f"u{i}",) for i in range(1, world.n_users + 1)]
    )
    insert_rows(conn, "follows", world.follows)
    insert_rows(conn, "activity", world.activities)


def encode_cursor(created_at: str, seq: int) -> str:
    raw = msgspec.json.encode([created_at, seq])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created_at, seq = msgspec.json.decode(raw, type=tuple[str, int])
    except (binascii.Error, ValueError, msgspec.DecodeError) as exc:
        raise bad_request("cursor is not one this service issued") from exc
    return created_at, seq


CONSUMED = {"track.posted", "user.followed", "user.unfollowed", "rights.ready", "media.ready"}

#: Which part of a post's visibility each event puts in place (the column of
#: ``post_readiness``); the post is visible once all three are.
READY_FLAG = {"track.posted": "posted", "rights.ready": "rights", "media.ready": "media"}
READINESS = """
CREATE TABLE IF NOT EXISTS post_readiness (
    track_id TEXT PRIMARY KEY, posted INTEGER NOT NULL DEFAULT 0,
    rights INTEGER NOT NULL DEFAULT 0, media INTEGER NOT NULL DEFAULT 0,
    announced INTEGER NOT NULL DEFAULT 0
)"""


def add_post(conn: sqlite3.Connection, actor_id: str, track_id: str, created_at: str) -> bool:
    """Record a track post once (a replayed event changes nothing); True when it is new."""
    if conn.execute("SELECT 1 FROM activity WHERE type = 'track_post' AND track_id = ?",
                    (track_id,)).fetchone():  # fmt: skip
        return False
    conn.execute("INSERT INTO activity (type, actor_id, track_id, created_at) "
                 "VALUES ('track_post', ?, ?, ?)", (actor_id, track_id, created_at))  # fmt: skip
    return True


def mark_ready(conn: sqlite3.Connection, track_id: str, event: str) -> bool:
    """Record what ``event`` put in place for ``track_id``; True exactly once per post: when
    the last of post, rights and media arrives, whatever their order (a replay is False)."""
    flag = READY_FLAG[event]  # a fixed column name, never input
    conn.execute(f"INSERT INTO post_readiness (track_id, {flag}) VALUES (?, 1) "
                 f"ON CONFLICT (track_id) DO UPDATE SET {flag} = 1", (track_id,))  # fmt: skip
    announced = conn.execute(
        "UPDATE post_readiness SET announced = 1 WHERE track_id = ? AND posted AND rights "
        "AND media AND NOT announced", (track_id,))  # fmt: skip
    return announced.rowcount == 1


def poster_of(conn: sqlite3.Connection, track_id: str) -> str | None:
    """Who posted ``track_id``, if this service holds the post (a private one it never does)."""
    row = conn.execute("SELECT actor_id FROM activity WHERE type = 'track_post' AND track_id = ?",
                       (track_id,)).fetchone()  # fmt: skip
    return None if row is None else str(row[0])


def followers_of(conn: sqlite3.Connection, user_id: str) -> list[str]:
    rows = conn.execute("SELECT follower_id FROM follows WHERE followee_id = ?", (user_id,))
    return [r[0] for r in rows]


def build_app(conn: sqlite3.Connection, args: argparse.Namespace) -> FastAPI:
    events = Events(getattr(args, "redis_url", None), "stream")
    conn.executescript(READINESS)  # databases seeded before it existed get it here

    async def announce_when_visible(type_: str, track_id: str) -> None:
        # Naming the feeds before rights and media exist would let a reader cache a feed
        # without the post (the catalog hides it) until the next change.
        poster = poster_of(conn, track_id)
        if mark_ready(conn, track_id, type_) and poster is not None:
            await events.notify("feed.changed", [f"feed:{f}" for f in followers_of(conn, poster)])
            # The live feeds announce the post from this event, not from track.posted: read
            # then, the catalog would still hide the track and the post would go unannounced.
            await events.emit("track.published", {"track_id": track_id, "owner_id": poster})

    async def on_event(type_: str, data: dict[str, str]) -> None:
        if type_ == "track.posted":
            if data.get("private") == "1":
                return  # nobody's feed shows a private track
            add_post(conn, data["owner_id"], data["track_id"], data["created_at"])
            await announce_when_visible(type_, data["track_id"])
        elif type_ in READY_FLAG:
            await announce_when_visible(type_, data["track_id"])
        elif type_ == "user.followed":
            pair = (data["follower_id"], data["followee_id"], data["created_at"])
            conn.execute("INSERT OR IGNORE INTO follows VALUES (?, ?, ?)", pair)
            await events.notify("feed.changed", [f"feed:{data['follower_id']}"])
        elif type_ == "user.unfollowed":
            conn.execute("DELETE FROM follows WHERE follower_id = ? AND followee_id = ?",
                         (data["follower_id"], data["followee_id"]))  # fmt: skip
            await events.notify("feed.changed", [f"feed:{data['follower_id']}"])

    # Serves only once the read position is fixed, so no event after startup is missed.
    lifespan = events.lifespan(CONSUMED, on_event, cursor=SqliteCursor(conn, "stream"))
    app = create_app("stream", "Feeds of track posts and reposts, newest first.",
                     lifespan=lifespan)  # fmt: skip

    @app.get("/stream/{user_id}", responses=returns(m.StreamPage, 404))
    async def stream(
        user_id: str, cursor: str | None = Query(None), limit: int = Query(20, ge=1, le=MAX_LIMIT)
    ) -> Response:
        if conn.execute("SELECT 1 FROM users WHERE id = ?", (user_id,)).fetchone() is None:
            raise not_found("user", user_id)
        where = ""
        params: list[object] = [user_id]
        if cursor:
            created_at, seq = decode_cursor(cursor)
            where = "AND (a.created_at < ? OR (a.created_at = ? AND a.seq < ?))"
            params += [created_at, created_at, seq]
        rows = conn.execute(
            "SELECT a.seq, a.type, a.actor_id, a.track_id, a.created_at FROM activity a "
            "WHERE a.actor_id IN (SELECT followee_id FROM follows WHERE follower_id = ?) "
            f"{where} ORDER BY a.created_at DESC, a.seq DESC LIMIT ?",
            [*params, limit + 1],
        ).fetchall()
        page = rows[:limit]
        items = [
            {
                "id": f"a{r['seq']}",
                "type": r["type"],
                "actor_id": r["actor_id"],
                "track_id": r["track_id"],
                "created_at": r["created_at"],
                "feed_owner_id": user_id,
                "ranking_signal": "chronological",
            }
            for r in page
        ]
        next_cursor = None
        if len(rows) > limit:
            last = page[-1]
            next_cursor = encode_cursor(last["created_at"], last["seq"])
        return json_response(
            {"user_id": user_id, "items": items, "next_cursor": next_cursor, "limit": limit}
        )

    return app


def main() -> None:
    run_service("stream", 9006, SCHEMA, load, build_app)


if __name__ == "__main__":
    main()
