"""rights (9009): licensing per track; ``allowed_countries`` is empty when unrestricted.

A posted track gets its default rights from the ``track.posted`` domain event: worldwide,
not restricted, with the poster's label when the event names one. Handling is idempotent
(an existing row is never overwritten) and the consumer's position is kept in this
service's database, so a replayed or re-read event changes nothing and a restart misses
nothing. A new row is announced as a change notice for ``track:<id>``, and every handled
post as the ``rights.ready`` domain event (the row exists: the track may be visible now).
``GET /rights?label=`` pages through one label's tracks (the partner catalog).

The label rule lives here, not in a BFF: ``GET /rights/{id}?label=`` answers a track's
rights only when they belong to that label, and a track of another label is the same 404 as a
missing one (a partner cannot tell another label's catalog from ids that do not exist).

For a partner caller (an internal token about ``partner:<id>``) the label is not the caller's
to choose: the token service states the partner's label in the token (``label`` claim) and
every read is confined to it, whether or not ``label=`` is sent. Asking for another label
reads as asking for one that has nothing: ``/rights/{id}`` is the 404 of a missing track,
``/rights?label=`` an empty page, and ``/rights?ids=`` leaves other labels' tracks out (as
it does missing ones). A partner token without a label sees nothing (fail closed). Other
callers (the catalog service, BFFs about users and apps, operators) read as they ask.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import sqlite3
from typing import overload

from fastapi import FastAPI, Query, Request
from starlette.responses import Response

from tailor.auth.internal import InternalClaims
from waveform.seed import World
from waveform.services import models as m
from waveform.services.common import (
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
from waveform.services.events import Events, SqliteCursor

SCHEMA = """
CREATE TABLE rights (
    track_id TEXT PRIMARY KEY, geo_restricted INTEGER NOT NULL,
    allowed_countries TEXT NOT NULL, label TEXT, territories_note TEXT,
    rights_holder_id TEXT, license_start TEXT, license_end TEXT,
    takedown_pending INTEGER NOT NULL, royalty_rate REAL
);
CREATE INDEX rights_label ON rights (label, track_id);
"""
BOOLS = ("geo_restricted", "takedown_pending")
JSON_COLS = ("allowed_countries",)
CONSUMED = {"track.posted"}
MAX_PAGE = 500


#: The label of a self-released track (the event names none).
NO_LABEL = "Independent"


def add_default_rights(conn: sqlite3.Connection, data: dict[str, str]) -> bool:
    """Worldwide rights for a newly posted track, once; True when the row is new.

    The poster holds the rights; the label is the event's ``label`` (a label posting its
    own track) or :data:`NO_LABEL`. An existing row (seeded, or an earlier delivery of the
    same event) is left as it is.
    """
    cur = conn.execute(
        "INSERT OR IGNORE INTO rights (track_id, geo_restricted, allowed_countries, label,"
        " territories_note, rights_holder_id, license_start, license_end, takedown_pending,"
        " royalty_rate) VALUES (?, 0, '[]', ?, 'worldwide', ?, ?, NULL, 0, 0.0)",
        (data["track_id"], data.get("label") or NO_LABEL, data.get("owner_id", ""),
         data.get("created_at", "")),
    )  # fmt: skip
    return cur.rowcount == 1


def load(conn: sqlite3.Connection, world: World) -> None:
    insert_rows(conn, "rights", world.rights)


def build_app(conn: sqlite3.Connection, args: argparse.Namespace) -> FastAPI:
    events = Events(getattr(args, "redis_url", None), "rights")
    # Databases seeded before the label index existed get it here (idempotent).
    conn.execute("CREATE INDEX IF NOT EXISTS rights_label ON rights (label, track_id)")

    async def on_event(type_: str, data: dict[str, str]) -> None:
        if type_ != "track.posted":
            return
        if add_default_rights(conn, data):
            await events.notify("rights.created", [f"track:{data['track_id']}"])
        # The row is there (new, seeded or from an earlier delivery): say so, so that whoever
        # waits for the track to be visible (the stream service, to name feeds) need not
        # depend on the order the consumers ran in. After the notice, so a notice it causes
        # follows this one.
        await events.emit("rights.ready", {"track_id": data["track_id"]})

    lifespan = events.lifespan(CONSUMED, on_event, cursor=SqliteCursor(conn, "rights"))
    app = create_app("rights", "Licensing and territory restrictions per track.",
                     lifespan=lifespan)  # fmt: skip

    @app.get("/rights/{track_id}", responses=returns(m.Rights, 404))
    async def get_rights(
        request: Request,
        track_id: str,
        label: str | None = Query(None, description="only if the track is in this label"),
    ) -> Response:
        try:
            within = confined_label(internal_claims(request), label)
        except OutsideOwnLabel:
            raise not_found("rights for track", track_id) from None  # the same 404
        row = conn.execute("SELECT * FROM rights WHERE track_id = ?", (track_id,)).fetchone()
        if row is None or not in_label(row, within):
            raise not_found("rights for track", track_id)  # another label's: the same 404
        return json_response(row_dict(row, BOOLS, JSON_COLS))

    @app.get("/rights", responses=returns(m.RightsBatch))
    async def batch_rights(
        request: Request,
        ids: str | None = Query(None, description="track ids, max 100"),
        label: str | None = Query(None, description="a label's tracks, by track id"),
        limit: int = Query(100, ge=1, le=MAX_PAGE),
        cursor: str | None = Query(None, description="next_cursor of the previous page"),
    ) -> Response:
        if (ids is None) == (label is None):
            raise bad_request("give exactly one of ids or label")
        claims = internal_claims(request)
        if label is not None:
            try:
                return json_response(label_page(conn, confined_label(claims, label), limit,
                                                cursor))  # fmt: skip
            except OutsideOwnLabel:
                if cursor is not None:
                    decode_cursor(cursor)  # a cursor not ours is the same 400 as ever
                # Another label's page reads as an unknown label's: empty.
                return json_response({"items": [], "next_cursor": None, "limit": limit})
        wanted = parse_ids(ids or "")
        try:
            within = confined_label(claims, None)
        except OutsideOwnLabel:
            return json_response({"items": []})
        rows = fetch_in(conn, "SELECT * FROM rights WHERE track_id IN ({marks})", wanted)
        rows = [r for r in rows if in_label(r, within)]  # other labels' tracks: as if missing
        items = in_order((row_dict(r, BOOLS, JSON_COLS) for r in rows), wanted, key="track_id")
        return json_response({"items": items})

    return app


class OutsideOwnLabel(Exception):
    """A partner caller asked outside its own label (or its token names none)."""


@overload
def confined_label(claims: InternalClaims, asked: str) -> str: ...
@overload
def confined_label(claims: InternalClaims, asked: None) -> str | None: ...
def confined_label(claims: InternalClaims, asked: str | None) -> str | None:
    """The label a read is confined to (None: any label).

    A caller that is not a partner is confined to what it asked. A partner is confined to
    the label its token names (the token service's record, not the query): asking for no
    label means its own, asking for another raises :class:`OutsideOwnLabel`, and so does a
    partner token that names no label (fail closed).
    """
    if claims.partner_id is None:
        return asked
    own = claims.label
    if own is None or (asked is not None and asked != own):
        raise OutsideOwnLabel
    return own


def in_label(row: sqlite3.Row, label: str | None) -> bool:
    """Whether a rights row may be answered to a caller asking within ``label`` (any row when
    the caller names no label)."""
    return label is None or row["label"] == label


def label_page(conn: sqlite3.Connection, label: str, limit: int, cursor: str | None
               ) -> dict[str, object]:  # fmt: skip
    """One page of a label's rights, by track id; the cursor is the last id served."""
    after = "" if cursor is None else decode_cursor(cursor)
    rows = conn.execute(
        "SELECT * FROM rights WHERE label = ? AND track_id > ? ORDER BY track_id LIMIT ?",
        (label, after, limit + 1),
    ).fetchall()
    page = rows[:limit]
    more = len(rows) > limit
    return {
        "items": [row_dict(r, BOOLS, JSON_COLS) for r in page],
        "next_cursor": encode_cursor(page[-1]["track_id"]) if more else None,
        "limit": limit,
    }


def encode_cursor(track_id: str) -> str:
    return base64.urlsafe_b64encode(f"r:{track_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, ValueError) as exc:
        raise bad_request("cursor is not one this service issued") from exc
    if not raw.startswith("r:"):
        raise bad_request("cursor is not one this service issued")
    return raw[2:]


def main() -> None:
    run_service("rights", 9009, SCHEMA, load, build_app)


if __name__ == "__main__":
    main()
