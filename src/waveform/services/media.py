"""media (9008): where a track's audio lives (stream, preview and HLS URLs, codec, CDN)."""

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
CREATE TABLE media (
    track_id TEXT PRIMARY KEY, stream_url TEXT NOT NULL, preview_url TEXT NOT NULL,
    hls_url TEXT NOT NULL, codec TEXT NOT NULL, bitrate_kbps INTEGER NOT NULL,
    cdn_node TEXT NOT NULL, signed_until TEXT NOT NULL, transcode_job_id TEXT,
    storage_bucket TEXT, origin_host TEXT
);
"""


def load(conn: sqlite3.Connection, world: World) -> None:
    insert_rows(conn, "media", world.media)


def build_app(conn: sqlite3.Connection, args: argparse.Namespace) -> FastAPI:
    app = create_app("media", "Audio locations per track.")

    @app.get("/media/{track_id}", responses=returns(m.Media, 404))
    async def get_media(track_id: str) -> Response:
        row = conn.execute("SELECT * FROM media WHERE track_id = ?", (track_id,)).fetchone()
        if row is None:
            raise not_found("media for track", track_id)
        return json_response(row_dict(row))

    @app.get("/media", responses=returns(m.MediaBatch))
    async def batch_media(ids: str = Query(..., description="track ids, max 100")) -> Response:
        wanted = parse_ids(ids)
        rows = fetch_in(conn, "SELECT * FROM media WHERE track_id IN ({marks})", wanted)
        return json_response({"items": in_order((row_dict(r) for r in rows), wanted,
                                                key="track_id")})

    return app


def main() -> None:
    run_service("media", 9008, SCHEMA, load, build_app)


if __name__ == "__main__":
    main()
