"""social (9005): the follow graph, likes and reposts."""

from __future__ import annotations

import argparse
import sqlite3
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Query, Request
from pydantic import BaseModel, Field
from starlette.responses import Response

from waveform.seed import World, iso
from waveform.services import models as m
from waveform.services.common import (
    Problem,
    bad_request,
    create_app,
    insert_rows,
    internal_claims,
    json_response,
    not_found,
    returns,
    run_service,
)
from waveform.services.events import Events

ID = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"


#: Who may like or repost: the catalog service, after its visibility check, and operators.
ENGAGEMENT_CLIENTS = frozenset({"catalog", "waveform-ops"})
OWNER_Q = Query("", pattern=r"^$|" + ID, description="the track's owner (for the event)")


class Owned(BaseModel):
    """A like or repost names the track's owner, as the catalog found it, for the event."""

    owner_id: str = Field(pattern=ID)


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

    # -- writes: the caller is the internal token's subject (never a path or body field);
    # each is idempotent (a second like is the same like), emits its domain event only when
    # something changed, and names the views it changed (tags) to the BFF caches. Likes and
    # reposts come only from the catalog service, which decided the track is visible to the
    # caller (the one place that rule lives): no BFF can like a track it may not see.

    def engaging(request: Request) -> str:
        claims = internal_claims(request)
        if claims.actor not in ENGAGEMENT_CLIENTS:
            raise Problem(403, "Forbidden", "likes and reposts go through the catalog service")
        known(claims.subject)
        return claims.subject

    def engagement(track_id: str, user_id: str) -> dict[str, Any]:
        (likes,) = conn.execute("SELECT COUNT(*) FROM likes WHERE track_id = ?",
                                (track_id,)).fetchone()  # fmt: skip
        liked = conn.execute("SELECT 1 FROM likes WHERE user_id = ? AND track_id = ?",
                             (user_id, track_id)).fetchone() is not None  # fmt: skip
        reposted = conn.execute("SELECT 1 FROM reposts WHERE user_id = ? AND track_id = ?",
                                (user_id, track_id)).fetchone() is not None  # fmt: skip
        return {"track_id": track_id, "likes": likes, "liked": liked, "reposted": reposted}

    async def announce(type_: str, changed: bool, data: dict[str, str], tags: list[str]) -> None:
        if changed:
            await events.emit(type_, data)
            await events.notify(type_, tags)

    async def engaged(
        event: str, kind: str, changed: int, track_id: str, owner_id: str, user: str
    ) -> Response:
        """The caller's engagement with a track after a like or repost (``kind``) was added or
        withdrawn: ``event`` announced, and the views it changes named, if rows ``changed``."""
        data = {"track_id": track_id, "owner_id": owner_id, "user_id": user}
        await announce(event, changed > 0, data, [f"{kind}:{user}", f"track:{track_id}"])
        return json_response(engagement(track_id, user))

    @app.get("/social/tracks/{track_id}/engagement", responses=returns(m.Engagement))
    async def track_engagement(track_id: str, request: Request) -> Response:
        """Likes of a track, and whether the caller liked or reposted it."""
        return json_response(engagement(track_id, internal_claims(request).subject))

    @app.get("/social/users/{user_id}/relation", responses=returns(m.Relation, 404))
    async def relation(user_id: str, request: Request) -> Response:
        """Whether the caller follows ``user_id``."""
        known(user_id)
        follower = internal_claims(request).subject
        found = conn.execute("SELECT 1 FROM follows WHERE follower_id = ? AND followee_id = ?",
                             (follower, user_id)).fetchone()  # fmt: skip
        return json_response({"user_id": user_id, "following": found is not None})

    @app.put("/social/likes/{track_id}", responses=returns(m.Engagement, 403, 404))
    async def like(track_id: str, body: Owned, request: Request) -> Response:
        user = engaging(request)
        added = conn.execute("INSERT OR IGNORE INTO likes VALUES (?, ?, ?)",
                             (user, track_id, iso(datetime.now(UTC)))).rowcount  # fmt: skip
        return await engaged("track.liked", "likes", added, track_id, body.owner_id, user)

    @app.delete("/social/likes/{track_id}", responses=returns(m.Engagement, 403, 404))
    async def unlike(track_id: str, request: Request, owner_id: str = OWNER_Q) -> Response:
        user = engaging(request)
        removed = conn.execute("DELETE FROM likes WHERE user_id = ? AND track_id = ?",
                               (user, track_id)).rowcount  # fmt: skip
        return await engaged("track.unliked", "likes", removed, track_id, owner_id, user)

    @app.put("/social/reposts/{track_id}", responses=returns(m.Engagement, 403, 404))
    async def repost(track_id: str, body: Owned, request: Request) -> Response:
        user = engaging(request)
        # One statement: the existence check and the insert cannot interleave with another.
        added = conn.execute(
            "INSERT INTO reposts SELECT ?, ?, ?, ? WHERE NOT EXISTS "
            "(SELECT 1 FROM reposts WHERE user_id = ? AND track_id = ?)",
            (f"r-{user}-{track_id}", user, track_id, iso(datetime.now(UTC)), user, track_id),
        ).rowcount
        return await engaged("track.reposted", "reposts", added, track_id, body.owner_id, user)

    @app.delete("/social/reposts/{track_id}", responses=returns(m.Engagement, 403, 404))
    async def unrepost(track_id: str, request: Request, owner_id: str = OWNER_Q) -> Response:
        user = engaging(request)
        removed = conn.execute("DELETE FROM reposts WHERE user_id = ? AND track_id = ?",
                               (user, track_id)).rowcount  # fmt: skip
        return await engaged("track.unreposted", "reposts", removed, track_id, owner_id, user)

    @app.put("/social/followings/{followee_id}", responses=returns(m.Relation, 400, 404))
    async def follow(followee_id: str, request: Request) -> Response:
        follower = internal_claims(request).subject
        known(follower)
        known(followee_id)
        if follower == followee_id:
            raise bad_request("one cannot follow oneself")
        now = iso(datetime.now(UTC))
        added = conn.execute("INSERT OR IGNORE INTO follows VALUES (?, ?, ?)",
                             (follower, followee_id, now)).rowcount  # fmt: skip
        data = {"follower_id": follower, "followee_id": followee_id, "created_at": now}
        tags = [f"followings:{follower}", f"followers:{followee_id}", f"user:{followee_id}"]
        await announce("user.followed", added > 0, data, tags)
        return json_response({"user_id": followee_id, "following": True})

    @app.delete("/social/followings/{followee_id}", responses=returns(m.Relation, 404))
    async def unfollow(followee_id: str, request: Request) -> Response:
        follower = internal_claims(request).subject
        known(follower)
        known(followee_id)
        removed = conn.execute("DELETE FROM follows WHERE follower_id = ? AND followee_id = ?",
                               (follower, followee_id)).rowcount  # fmt: skip
        data = {"follower_id": follower, "followee_id": followee_id}
        tags = [f"followings:{follower}", f"followers:{followee_id}", f"user:{followee_id}"]
        await announce("user.unfollowed", removed > 0, data, tags)
        return json_response({"user_id": followee_id, "following": False})

    return app


def main() -> None:
    run_service("social", 9005, SCHEMA, load, build_app)


if __name__ == "__main__":
    main()
