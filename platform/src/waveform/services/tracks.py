"""tracks (9003): track metadata. A foundation service: it applies NO visibility rules."""

from __future__ import annotations

import argparse
import sqlite3
from datetime import UTC, datetime

from fastapi import FastAPI, Query, Request
from pydantic import BaseModel, Field
from starlette.responses import Response

from waveform.seed import World, iso
from waveform.services import models as m
from waveform.services.common import (
    Problem,
    bad_request,
    create_app,
    fetch_in,
    in_order,
    insert_rows,
    internal_claims,
    json_response,
    not_found,
    parse_ids,
    returns,
    row_dict,
    run_service,
)
from waveform.services.events import Events

SCHEMA = """
CREATE TABLE tracks (
    id TEXT PRIMARY KEY, title TEXT NOT NULL, owner_id TEXT NOT NULL,
    duration_ms INTEGER NOT NULL, genre TEXT, tags TEXT NOT NULL, description TEXT,
    artwork_url TEXT, waveform_url TEXT, private INTEGER NOT NULL, created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL, bpm INTEGER, isrc TEXT, license TEXT, play_count INTEGER,
    like_count INTEGER, repost_count INTEGER, comment_count INTEGER, downloadable INTEGER,
    moderation_state TEXT, storage_key TEXT, checksum_sha1 TEXT, internal_notes TEXT
);
CREATE INDEX tracks_owner ON tracks (owner_id, created_at);
"""
BOOLS = ("private", "downloadable")
JSON_COLS = ("tags",)


def load(conn: sqlite3.Connection, world: World) -> None:
    insert_rows(conn, "tracks", world.tracks)


ID = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
POSTERS = frozenset({"catalog", "waveform-ops"})


class NewTrack(BaseModel):
    """A track being posted. ``id`` is the upload's id when the media pipeline assigned one
    (its media and rights rows are keyed by it); otherwise the next free ``t<n>``. ``label``
    is the record label posting it (empty: self-released); tracks does not keep it, it goes
    in the ``track.posted`` event for the rights service."""

    owner_id: str = Field(pattern=ID)
    title: str = Field(min_length=1, max_length=200)
    duration_ms: int = Field(gt=0, le=24 * 3600 * 1000)
    id: str | None = Field(None, pattern=ID)
    genre: str = Field("", max_length=64)
    description: str = Field("", max_length=4000)
    private: bool = False
    label: str = Field("", max_length=100)


def build_app(conn: sqlite3.Connection, args: argparse.Namespace) -> FastAPI:
    app = create_app("tracks", "Track metadata; no visibility rules (see catalog).")
    events = Events(getattr(args, "redis_url", None), "tracks")

    @app.get("/tracks/{track_id}", responses=returns(m.Track, 404))
    async def get_track(track_id: str) -> Response:
        row = conn.execute("SELECT * FROM tracks WHERE id = ?", (track_id,)).fetchone()
        if row is None:
            raise not_found("track", track_id)
        return json_response(row_dict(row, BOOLS, JSON_COLS))

    @app.get("/tracks", responses=returns(m.Tracks))
    async def list_tracks(
        ids: str | None = Query(None, description="comma-separated ids, max 100"),
        owner: str | None = Query(None, description="owner user id; newest first"),
        limit: int = Query(100, ge=1, le=500),
    ) -> Response:
        if (ids is None) == (owner is None):
            raise bad_request("give exactly one of ids or owner")
        if ids is not None:
            wanted = parse_ids(ids)
            rows = fetch_in(conn, "SELECT * FROM tracks WHERE id IN ({marks})", wanted)
            items = in_order((row_dict(r, BOOLS, JSON_COLS) for r in rows), wanted)
        else:
            rows = conn.execute(
                "SELECT * FROM tracks WHERE owner_id = ? "
                "ORDER BY created_at DESC, CAST(substr(id, 2) AS INTEGER) DESC LIMIT ?",
                (owner, limit),
            ).fetchall()
            items = [row_dict(r, BOOLS, JSON_COLS) for r in rows]
        return json_response({"items": items})

    @app.post("/tracks", status_code=201, responses=returns(m.Track, 403, 409))
    async def post_track(new: NewTrack, request: Request) -> Response:
        """Post a track. Emits ``track.posted`` (the stream service adds it to followers'
        feeds and names them to the BFF caches) and notifies ``track:<id>``/``tracks:<owner>``.
        Only the catalog service (which takes the owner from its caller) and operators post:
        a BFF cannot post a track as someone else."""
        if internal_claims(request).actor not in POSTERS:
            raise Problem(403, "Forbidden", "tracks are posted through the catalog service")
        now = iso(datetime.now(UTC))
        track_id = new.id or _next_id(conn)
        try:
            conn.execute(
                "INSERT INTO tracks (id, title, owner_id, duration_ms, genre, tags, description,"
                " artwork_url, waveform_url, private, created_at, updated_at, play_count,"
                " like_count, repost_count, comment_count, downloadable, moderation_state)"
                " VALUES (?, ?, ?, ?, ?, '[]', ?, ?, ?, ?, ?, ?, 0, 0, 0, 0, 0, 'approved')",
                (track_id, new.title, new.owner_id, new.duration_ms, new.genre,
                 new.description, f"https://img.waveform.test/artwork/{track_id}.jpg",
                 f"https://wave.waveform.test/{track_id}.json", int(new.private), now, now),
            )  # fmt: skip
        except sqlite3.IntegrityError as exc:
            raise Problem(409, "Conflict", f"track {track_id!r} already exists") from exc
        row = conn.execute("SELECT * FROM tracks WHERE id = ?", (track_id,)).fetchone()
        # Everything a consumer needs is in the event itself, so no consumer has to wait for
        # another (or call back here) to handle it.
        data = {"track_id": track_id, "owner_id": new.owner_id, "created_at": now,
                "private": str(int(new.private)), "label": new.label}  # fmt: skip
        await events.emit("track.posted", data)
        await events.notify("track.posted", [f"track:{track_id}", f"tracks:{new.owner_id}"])
        return json_response(row_dict(row, BOOLS, JSON_COLS), status=201)

    return app


def _next_id(conn: sqlite3.Connection) -> str:
    (top,) = conn.execute(
        "SELECT MAX(CAST(substr(id, 2) AS INTEGER)) FROM tracks WHERE id GLOB 't[0-9]*'"
    ).fetchone()
    return f"t{(top or 0) + 1}"


def main() -> None:
    run_service("tracks", 9003, SCHEMA, load, build_app)


if __name__ == "__main__":
    main()
