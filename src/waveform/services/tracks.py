"""tracks (9003): track metadata. A foundation service: it applies NO visibility rules."""

from __future__ import annotations

import argparse
import sqlite3

from fastapi import FastAPI, Query
from starlette.responses import Response

from waveform.seed import World
from waveform.services import models as m
from waveform.services.common import (
    bad_request,
    create_app,
    fetch_in,
    in_order,
    insert_rows,
    json_response,
    not_found,
    parse_ids,
    returns,
    row_dict,
    run_service,
)

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


def build_app(conn: sqlite3.Connection, args: argparse.Namespace) -> FastAPI:
    app = create_app("tracks", "Track metadata; no visibility rules (see catalog).")

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
                (owner, limit)).fetchall()
            items = [row_dict(r, BOOLS, JSON_COLS) for r in rows]
        return json_response({"items": items})

    return app


def main() -> None:
    run_service("tracks", 9003, SCHEMA, load, build_app)


if __name__ == "__main__":
    main()
