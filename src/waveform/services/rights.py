"""rights (9009): licensing per track; ``allowed_countries`` is empty when unrestricted."""

from __future__ import annotations

import argparse
import sqlite3

from fastapi import FastAPI, Query
from starlette.responses import Response

from waveform.seed import World
from waveform.services import models as m
from waveform.services.common import (
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
CREATE TABLE rights (
    track_id TEXT PRIMARY KEY, geo_restricted INTEGER NOT NULL,
    allowed_countries TEXT NOT NULL, label TEXT, territories_note TEXT,
    rights_holder_id TEXT, license_start TEXT, license_end TEXT,
    takedown_pending INTEGER NOT NULL, royalty_rate REAL
);
"""
BOOLS = ("geo_restricted", "takedown_pending")
JSON_COLS = ("allowed_countries",)


def load(conn: sqlite3.Connection, world: World) -> None:
    insert_rows(conn, "rights", world.rights)


def build_app(conn: sqlite3.Connection, args: argparse.Namespace) -> FastAPI:
    app = create_app("rights", "Licensing and territory restrictions per track.")

    @app.get("/rights/{track_id}", responses=returns(m.Rights, 404))
    async def get_rights(track_id: str) -> Response:
        row = conn.execute("SELECT * FROM rights WHERE track_id = ?", (track_id,)).fetchone()
        if row is None:
            raise not_found("rights for track", track_id)
        return json_response(row_dict(row, BOOLS, JSON_COLS))

    @app.get("/rights", responses=returns(m.RightsBatch))
    async def batch_rights(ids: str = Query(..., description="track ids, max 100")
                           ) -> Response:
        wanted = parse_ids(ids)
        rows = fetch_in(conn, "SELECT * FROM rights WHERE track_id IN ({marks})", wanted)
        items = in_order((row_dict(r, BOOLS, JSON_COLS) for r in rows), wanted, key="track_id")
        return json_response({"items": items})

    return app


def main() -> None:
    run_service("rights", 9009, SCHEMA, load, build_app)


if __name__ == "__main__":
    main()
