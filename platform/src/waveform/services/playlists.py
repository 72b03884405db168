"""playlists (9004): playlists with their ordered track ids, and who may see them.

The one place the playlist visibility rule lives (no BFF re-implements it): a private
playlist is served only to its owner. The caller is the ``sub`` of the internal token it
presented (the BFF sends the verified user as subject; a call tailor makes on its own
carries the BFF's client id, which owns nothing). For anyone else a private playlist is the
same 404 as a missing one, so its existence is not revealed, and ``GET /playlists?owner=X``
lists X's private playlists only when the caller is X.
"""

from __future__ import annotations

import argparse
import sqlite3
from datetime import UTC, datetime

import msgspec
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
    row_dict,
    run_service,
)
from waveform.services.events import Events

ID = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"


class PlaylistEdit(BaseModel):
    """A partial edit: only the fields given change."""

    title: str | None = Field(None, min_length=1, max_length=200)
    track_ids: list[str] | None = Field(None, max_length=500)


SCHEMA = """
CREATE TABLE playlists (
    id TEXT PRIMARY KEY, title TEXT NOT NULL, owner_id TEXT NOT NULL, description TEXT,
    track_ids TEXT NOT NULL, artwork_url TEXT, private INTEGER NOT NULL,
    created_at TEXT NOT NULL, updated_at TEXT NOT NULL, track_count INTEGER NOT NULL,
    duration_ms INTEGER, internal_notes TEXT
);
CREATE INDEX playlists_owner ON playlists (owner_id, created_at);
"""
BOOLS = ("private",)
JSON_COLS = ("track_ids",)


def may_see(row: sqlite3.Row, caller: str) -> bool:
    """The visibility rule for playlists: a private one only for its owner."""
    return not row["private"] or row["owner_id"] == caller


def hidden(playlist_id: str) -> Problem:
    """The one 404 for both 'no such playlist' and 'not yours to see'."""
    return not_found("playlist", playlist_id)


def load(conn: sqlite3.Connection, world: World) -> None:
    insert_rows(conn, "playlists", world.playlists)


def build_app(conn: sqlite3.Connection, args: argparse.Namespace) -> FastAPI:
    app = create_app("playlists", "Playlists; a private one is served only to its owner.")
    events = Events(getattr(args, "redis_url", None), "playlists")

    @app.get("/playlists/{playlist_id}", responses=returns(m.Playlist, 404))
    async def get_playlist(playlist_id: str, request: Request) -> Response:
        caller = internal_claims(request).subject
        row = conn.execute("SELECT * FROM playlists WHERE id = ?", (playlist_id,)).fetchone()
        if row is None or not may_see(row, caller):
            raise hidden(playlist_id)
        return json_response(row_dict(row, BOOLS, JSON_COLS))

    @app.get("/playlists", responses=returns(m.Playlists))
    async def list_playlists(
        request: Request, owner: str = Query(..., description="owner user id")
    ) -> Response:
        caller = internal_claims(request).subject
        rows = conn.execute(
            "SELECT * FROM playlists WHERE owner_id = ? ORDER BY created_at DESC, id", (owner,)
        ).fetchall()
        items = [row_dict(r, BOOLS, JSON_COLS) for r in rows if may_see(r, caller)]
        return json_response({"items": items})

    @app.patch("/playlists/{playlist_id}", responses=returns(m.Playlist, 404))
    async def edit_playlist(playlist_id: str, edit: PlaylistEdit, request: Request) -> Response:
        caller = internal_claims(request).subject
        row = conn.execute("SELECT * FROM playlists WHERE id = ?", (playlist_id,)).fetchone()
        if row is None or not may_see(row, caller):
            raise hidden(playlist_id)  # one cannot edit what one may not see
        title = row["title"] if edit.title is None else edit.title
        ids = msgspec.json.decode(row["track_ids"]) if edit.track_ids is None else edit.track_ids
        if any(not isinstance(i, str) or not i for i in ids):
            raise bad_request("track_ids must be non-empty strings")
        conn.execute("UPDATE playlists SET title = ?, track_ids = ?, track_count = ?, "
                     "updated_at = ? WHERE id = ?",
                     (title, msgspec.json.encode(ids).decode(), len(ids),
                      iso(datetime.now(UTC)), playlist_id))  # fmt: skip
        tags = [f"playlist:{playlist_id}", f"playlists:{row['owner_id']}"]
        await events.notify("playlist.edited", tags)
        updated = conn.execute("SELECT * FROM playlists WHERE id = ?", (playlist_id,)).fetchone()
        return json_response(row_dict(updated, BOOLS, JSON_COLS))

    return app


def main() -> None:
    run_service("playlists", 9004, SCHEMA, load, build_app)


if __name__ == "__main__":
    main()
