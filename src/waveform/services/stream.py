"""stream (9006): a user's feed of track posts and reposts by the users they follow.

The service keeps its own denormalized copy of the follow graph and of every post and
repost (an ``activity`` table), and reads a feed by joining them (fan-out on read). It does
not filter visibility: that is the value-added catalog's job.
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
    conn.executemany("INSERT INTO users VALUES (?)",
                     [(f"u{i}",) for i in range(1, world.n_users + 1)])
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


def build_app(conn: sqlite3.Connection, args: argparse.Namespace) -> FastAPI:
    app = create_app("stream", "Feeds of track posts and reposts, newest first.")

    @app.get("/stream/{user_id}", responses=returns(m.StreamPage, 404))
    async def stream(user_id: str, cursor: str | None = Query(None),
                     limit: int = Query(20, ge=1, le=MAX_LIMIT)) -> Response:
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
            [*params, limit + 1]).fetchall()
        page = rows[:limit]
        items = [{"id": f"a{r['seq']}", "type": r["type"], "actor_id": r["actor_id"],
                  "track_id": r["track_id"], "created_at": r["created_at"],
                  "feed_owner_id": user_id, "ranking_signal": "chronological"}
                 for r in page]
        next_cursor = None
        if len(rows) > limit:
            last = page[-1]
            next_cursor = encode_cursor(last["created_at"], last["seq"])
        return json_response({"user_id": user_id, "items": items, "next_cursor": next_cursor,
                              "limit": limit})

    return app


def main() -> None:
    run_service("stream", 9006, SCHEMA, load, build_app)


if __name__ == "__main__":
    main()
