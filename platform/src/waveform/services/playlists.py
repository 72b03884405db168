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
from fastapi import FastAPI, Header, Query, Request
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


class NewPlaylist(BaseModel):
    """A playlist being created; its owner is the caller (the internal token's subject)."""

    title: str = Field(min_length=1, max_length=200)
    track_ids: list[str] = Field(default_factory=list, max_length=500)
    private: bool = False


class PlaylistEdit(BaseModel):
    """A partial edit: only the fields given change."""

    title: str | None = Field(None, min_length=1, max_length=200)
    track_ids: list[str] | None = Field(None, max_length=500)


SCHEMA = """
CREATE TABLE playlists (
    id TEXT PRIMARY KEY, title TEXT NOT NULL, owner_id TEXT NOT NULL, description TEXT,
    track_ids TEXT NOT NULL, artwork_url TEXT, private INTEGER NOT NULL,
    created_at TEXT NOT NULL, updated_at TEXT NOT NULL, track_count INTEGER NOT NULL,
    duration_ms INTEGER, internal_notes TEXT, version INTEGER NOT NULL DEFAULT 1
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


def etag(row: sqlite3.Row) -> str:
    """The version of a playlist as an entity tag: what an edit's If-Match names."""
    return f'"v{row["version"]}"'


def matches(if_match: str, current: str) -> bool:
    """RFC 9110 s13.1.1: ``*`` or any listed tag equal (strong comparison) to ``current``."""
    tags = [t.strip() for t in if_match.split(",")]
    return "*" in tags or current in tags


def check_ids(ids: list[str]) -> None:
    if any(not i or len(i) > 64 for i in ids):
        raise bad_request("track_ids must be non-empty ids of at most 64 characters")


def versioned(row: sqlite3.Row, status: int = 200) -> Response:
    response = json_response(row_dict(row, BOOLS, JSON_COLS), status=status)
    response.headers["etag"] = etag(row)
    return response


def add_version_column(conn: sqlite3.Connection) -> None:
    """A database made before playlists had versions gets the column (every row at v1)."""
    cols = {r[1] for r in conn.execute("PRAGMA table_info(playlists)")}
    if "version" not in cols:
        conn.execute("ALTER TABLE playlists ADD COLUMN version INTEGER NOT NULL DEFAULT 1")


def build_app(conn: sqlite3.Connection, args: argparse.Namespace) -> FastAPI:
    app = create_app("playlists", "Playlists; a private one is served only to its owner.")
    events = Events(getattr(args, "redis_url", None), "playlists")

    add_version_column(conn)

    def visible_row(playlist_id: str, caller: str) -> sqlite3.Row:
        row: sqlite3.Row | None = conn.execute(
            "SELECT * FROM playlists WHERE id = ?", (playlist_id,)
        ).fetchone()
        if row is None or not may_see(row, caller):
            raise hidden(playlist_id)
        return row

    @app.get("/playlists/{playlist_id}", responses=returns(m.Playlist, 404))
    async def get_playlist(playlist_id: str, request: Request) -> Response:
        return versioned(visible_row(playlist_id, internal_claims(request).subject))

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

    @app.post("/playlists", status_code=201, responses=returns(m.Playlist, 400))
    async def create_playlist(new: NewPlaylist, request: Request) -> Response:
        """Create a playlist owned by the caller. Emits ``playlist.changed``."""
        owner = internal_claims(request).subject
        check_ids(new.track_ids)
        now = iso(datetime.now(UTC))
        (top,) = conn.execute("SELECT MAX(CAST(substr(id, 2) AS INTEGER)) FROM playlists "
                              "WHERE id GLOB 'p[0-9]*'").fetchone()  # fmt: skip
        playlist_id = f"p{(top or 0) + 1}"
        conn.execute(
            "INSERT INTO playlists (id, title, owner_id, description, track_ids, artwork_url,"
            " private, created_at, updated_at, track_count, duration_ms, internal_notes,"
            " version) VALUES (?, ?, ?, '', ?, ?, ?, ?, ?, ?, 0, '', 1)",
            (playlist_id, new.title, owner, msgspec.json.encode(new.track_ids).decode(),
             f"https://img.waveform.test/playlists/{playlist_id}.jpg", int(new.private),
             now, now, len(new.track_ids)),
        )  # fmt: skip
        await changed(playlist_id, owner)
        return versioned(visible_row(playlist_id, owner), status=201)

    @app.patch("/playlists/{playlist_id}", responses=returns(m.Playlist, 403, 404, 412, 428))
    async def edit_playlist(
        playlist_id: str,
        edit: PlaylistEdit,
        request: Request,
        if_match: str | None = Header(None, description="the ETag the edit is based on"),
    ) -> Response:
        """Edit one's own playlist: its title and (add, remove, reorder) its track ids.

        Someone else's playlist is 403 when the caller may see it (its existence is no
        secret then) and the 404 of a missing one when not. The edit must name the version
        it is based on (``If-Match``: 428 without, 412 when another edit came first); the
        check and the write are one statement, so two edits of one version cannot both win.
        """
        caller = internal_claims(request).subject
        row = visible_row(playlist_id, caller)
        if row["owner_id"] != caller:
            raise Problem(403, "Forbidden", "only its owner may edit a playlist")
        if not if_match:
            raise Problem(428, "Precondition Required", "send If-Match with the playlist's ETag")
        if not matches(if_match, etag(row)):
            raise Problem(412, "Precondition Failed",
                          f"the playlist changed since; it is at {etag(row)}")  # fmt: skip
        title = row["title"] if edit.title is None else edit.title
        ids = msgspec.json.decode(row["track_ids"]) if edit.track_ids is None else edit.track_ids
        check_ids(ids)
        updated = conn.execute(
            "UPDATE playlists SET title = ?, track_ids = ?, track_count = ?, updated_at = ?, "
            "version = version + 1 WHERE id = ? AND version = ?",
            (title, msgspec.json.encode(ids).decode(), len(ids), iso(datetime.now(UTC)),
             playlist_id, row["version"]),
        ).rowcount  # fmt: skip
        if not updated:
            raise Problem(412, "Precondition Failed", "the playlist changed since")
        await changed(playlist_id, caller)
        return versioned(visible_row(playlist_id, caller))

    async def changed(playlist_id: str, owner: str) -> None:
        await events.emit("playlist.changed", {"playlist_id": playlist_id, "owner_id": owner})
        await events.notify("playlist.changed", [f"playlist:{playlist_id}", f"playlists:{owner}"])

    return app


def main() -> None:
    run_service("playlists", 9004, SCHEMA, load, build_app)


if __name__ == "__main__":
    main()
