"""social (9005): the follow graph, likes and reposts."""

from __future__ import annotations

import argparse
import sqlite3
from datetime import UTC, datetime

from fastapi import FastAPI, Query
from pydantic import BaseModel, Field
from starlette.responses import Response

from waveform.seed import World, iso
from waveform.services import models as m
from waveform.services.common import (
    create_app,
    insert_rows,
    json_response,
    not_found,
    returns,
    run_service,
)
from waveform.services.events import Events

ID = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"


class Follow(BaseModel):
    followee_id: str = Field(pattern=ID)


class Like(BaseModel):
    track_id: str = Field(pattern=ID)


SCHEMA = """
CREATE TABLE users (id TEXT PRIMARY KEY);
CREATE TABLE follows (follower_id TEXT NOT NULL, followee_id TEXT NOT NULL,
                      created_at TEXT NOT NULL, PRIMARY KEY (follower_id, followee_id));
CREATE INDEX follows_followee ON follows (followee_id, created_at);
CREATE TABLE likes (user_id TEXT NOT NULL, track_id TEXT NOT NULL, created_at TEXT NOT NULL,
                    PRIMARY KEY (user_id, track_id));
CREATE TABLE reposts (id TEXT PRIMARY KEY, user_id TEXT NOT NULL, track_id TEXT NOT NULL,
                      created_at TEXT NOT NULL);
CREATE INDEX reposts_user ON reposts (user_id, created_at);
"""

QUERIES = {
    "followings": "SELECT followee_id AS user_id, created_at FROM follows "
    "WHERE follower_id = ? ORDER BY created_at DESC, followee_id LIMIT ?",
    "followers": "SELECT follower_id AS user_id, created_at FROM follows "
    "WHERE followee_id = ? ORDER BY created_at DESC, follower_id LIMIT ?",
    "likes": "SELECT track_id, created_at FROM likes "
    "WHERE user_id = ? ORDER BY created_at DESC, track_id LIMIT ?",
    "reposts": "SELECT id, track_id, created_at FROM reposts "
    "WHERE user_id = ? ORDER BY created_at DESC, id LIMIT ?",
}


def load(conn: sqlite3.Connection, world: World) -> None:
    conn.executemany(
        "INSERT INTO users VALUES (?)", [(f"u{i}",) for i in range(1, world.n_users + 1)]
    )
    insert_rows(conn, "follows", world.follows)
    insert_rows(conn, "likes", world.likes)
    insert_rows(conn, "reposts", world.reposts)


def build_app(conn: sqlite3.Connection, args: argparse.Namespace) -> FastAPI:
    app = create_app("social", "Follows, likes and reposts.")
    events = Events(getattr(args, "redis_url", None), "social")

    def known(user_id: str) -> None:
        if conn.execute("SELECT 1 FROM users WHERE id = ?", (user_id,)).fetchone() is None:
            raise not_found("user", user_id)

    def listing(kind: str, user_id: str, limit: int) -> Response:
        if conn.execute("SELECT 1 FROM users WHERE id = ?", (user_id,)).fetchone() is None:
            raise not_found("user", user_id)
        rows = conn.execute(QUERIES[kind], (user_id, limit)).fetchall()
        return json_response({"user_id": user_id, "kind": kind, "items": [dict(r) for r in rows]})

    limit_q = Query(200, ge=1, le=1000)

    @app.get("/social/{user_id}/followings", responses=returns(m.SocialList, 404))
    async def followings(user_id: str, limit: int = limit_q) -> Response:
        return listing("followings", user_id, limit)

    @app.get("/social/{user_id}/followers", responses=returns(m.SocialList, 404))
    async def followers(user_id: str, limit: int = limit_q) -> Response:
        return listing("followers", user_id, limit)

    @app.get("/social/{user_id}/likes", responses=returns(m.SocialList, 404))
    async def likes(user_id: str, limit: int = limit_q) -> Response:
        return listing("likes", user_id, limit)

    @app.get("/social/{user_id}/reposts", responses=returns(m.SocialList, 404))
    async def reposts(user_id: str, limit: int = limit_q) -> Response:
        return listing("reposts", user_id, limit)

    # -- writes: each announces what changed (domain event) and whose views (tags) --------

    @app.post("/social/{user_id}/followings", status_code=204, responses={404: {}})
    async def follow(user_id: str, body: Follow) -> Response:
        known(user_id)
        known(body.followee_id)
        now = iso(datetime.now(UTC))
        conn.execute("INSERT OR IGNORE INTO follows VALUES (?, ?, ?)",
                     (user_id, body.followee_id, now))  # fmt: skip
        await events.emit(
            "user.followed",
            {"follower_id": user_id, "followee_id": body.followee_id, "created_at": now},
        )
        await events.notify("user.followed", [f"followings:{user_id}",
                                              f"followers:{body.followee_id}"])  # fmt: skip
        return Response(status_code=204)

    @app.delete("/social/{user_id}/followings/{followee_id}", status_code=204)
    async def unfollow(user_id: str, followee_id: str) -> Response:
        conn.execute("DELETE FROM follows WHERE follower_id = ? AND followee_id = ?",
                     (user_id, followee_id))  # fmt: skip
        await events.emit("user.unfollowed", {"follower_id": user_id,
                                              "followee_id": followee_id})  # fmt: skip
        await events.notify("user.unfollowed", [f"followings:{user_id}",
                                                f"followers:{followee_id}"])  # fmt: skip
        return Response(status_code=204)

    @app.post("/social/{user_id}/likes", status_code=204, responses={404: {}})
    async def like(user_id: str, body: Like) -> Response:
        known(user_id)
        conn.execute("INSERT OR IGNORE INTO likes VALUES (?, ?, ?)",
                     (user_id, body.track_id, iso(datetime.now(UTC))))  # fmt: skip
        await events.notify("track.liked", [f"likes:{user_id}", f"track:{body.track_id}"])
        return Response(status_code=204)

    return app


def main() -> None:
    run_service("social", 9005, SCHEMA, load, build_app)


if __name__ == "__main__":
    main()
