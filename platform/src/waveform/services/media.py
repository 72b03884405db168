"""media (9008): where a track's audio lives (stream, preview and HLS URLs, codec, CDN).

A posted track gets its media row from the ``track.posted`` domain event, with URLs derived
from the track id exactly as the seeded tracks' are (:func:`default_media`). Handling is
idempotent and the consumer's position is kept in this service's database, so a replayed
event changes nothing and a restart misses nothing. A new row is announced as a change notice
for ``track:<id>``, and every handled post as the ``media.ready`` domain event.
"""

from __future__ import annotations

import argparse
import re
import sqlite3
import zlib
from datetime import timedelta
from typing import Any

from fastapi import FastAPI, Query
from starlette.responses import Response

from waveform.seed import COUNTRIES, EPOCH, World, iso
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
from waveform.services.events import Events, SqliteCursor

SCHEMA = """
CREATE TABLE media (
    track_id TEXT PRIMARY KEY, stream_url TEXT NOT NULL, preview_url TEXT NOT NULL,
    hls_url TEXT NOT NULL, codec TEXT NOT NULL, bitrate_kbps INTEGER NOT NULL,
    cdn_node TEXT NOT NULL, signed_until TEXT NOT NULL, transcode_job_id TEXT,
    storage_bucket TEXT, origin_host TEXT
);
"""

CONSUMED = {"track.posted"}
CODECS = (("mp3", 128), ("aac", 256), ("opus", 160))
SIGNED_UNTIL = iso(EPOCH + timedelta(days=3650))
_NUMBERED = re.compile(r"t(\d+)")


def default_media(track_id: str) -> dict[str, Any]:
    """The media row of a track, derived from its id as the seed derives ``t<n>``'s (any
    other id is hashed to pick the codec, CDN node and origin).

    >>> default_media("t1")["stream_url"]
    'https://cdn.waveform.test/stream/t1.aac'
    """
    numbered = _NUMBERED.fullmatch(track_id)
    n = int(numbered.group(1)) if numbered else zlib.crc32(track_id.encode())
    codec, kbps = CODECS[n % 3]
    return {
        "track_id": track_id,
        "stream_url": f"https://cdn.waveform.test/stream/{track_id}.{codec}",
        "preview_url": f"https://cdn.waveform.test/preview/{track_id}.mp3",
        "hls_url": f"https://cdn.waveform.test/hls/{track_id}/master.m3u8",
        "codec": codec,
        "bitrate_kbps": kbps,
        "cdn_node": f"edge-{COUNTRIES[n % len(COUNTRIES)].lower()}-{n % 4}",
        "signed_until": SIGNED_UNTIL,
        "transcode_job_id": f"job-{n:07d}" if numbered else f"job-{track_id}",
        "storage_bucket": "waveform-transcodes",
        "origin_host": f"origin-{n % 8}.internal",
    }


def add_default_media(conn: sqlite3.Connection, track_id: str) -> bool:
    """The media row of a newly posted track, once; True when the row is new."""
    row = default_media(track_id)
    cols = ", ".join(row)
    marks = ", ".join(f":{c}" for c in row)
    cur = conn.execute(f"INSERT OR IGNORE INTO media ({cols}) VALUES ({marks})", row)
    return cur.rowcount == 1


def load(conn: sqlite3.Connection, world: World) -> None:
    insert_rows(conn, "media", world.media)


def build_app(conn: sqlite3.Connection, args: argparse.Namespace) -> FastAPI:
    events = Events(getattr(args, "redis_url", None), "media")

    async def on_event(type_: str, data: dict[str, str]) -> None:
        if type_ != "track.posted":
            return
        if add_default_media(conn, data["track_id"]):
            await events.notify("media.created", [f"track:{data['track_id']}"])
        # The row is there (new, or from the upload pipeline, or an earlier delivery): the
        # stream service names followers' feeds once rights and media both said so.
        await events.emit("media.ready", {"track_id": data["track_id"]})

    lifespan = events.lifespan(CONSUMED, on_event, cursor=SqliteCursor(conn, "media"))
    app = create_app("media", "Audio locations per track.", lifespan=lifespan)

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
        return json_response(
            {"items": in_order((row_dict(r) for r in rows), wanted, key="track_id")}
        )

    return app


def main() -> None:
    run_service("media", 9008, SCHEMA, load, build_app)


if __name__ == "__main__":
    main()
