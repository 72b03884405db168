"""recommendations (9007): ranked track candidates per user (no visibility rules)."""

from __future__ import annotations

import argparse
import sqlite3

from fastapi import FastAPI, Query
from starlette.responses import Response

from waveform.seed import World
from waveform.services import models as m
from waveform.services.common import (
    create_app,
    insert_rows,
    json_response,
    not_found,
    returns,
    run_service,
)

SCHEMA = """
CREATE TABLE users (id TEXT PRIMARY KEY);
CREATE TABLE recommendations (user_id TEXT NOT NULL, rank INTEGER NOT NULL,
                              track_id TEXT NOT NULL, score REAL NOT NULL,
                              reason TEXT NOT NULL, PRIMARY KEY (user_id, rank));
"""
MODEL_VERSION = "collab-filter-2025.06.1"


def load(conn: sqlite3.Connection, world: World) -> None:
    conn.executemany(
        "INSERT INTO users VALUES (?)", [(f"u{i}",) for i in range(1, world.n_users + 1)]
    )
    insert_rows(conn, "recommendations", world.recommendations)


def build_app(conn: sqlite3.Connection, args: argparse.Namespace) -> FastAPI:
    app = create_app("recommendations", "Ranked candidates; callers filter visibility.")

    @app.get("/recommendations/{user_id}", responses=returns(m.Recommendations, 404))
    async def recommendations(user_id: str, limit: int = Query(10, ge=1, le=20)) -> Response:
        if conn.execute("SELECT 1 FROM users WHERE id = ?", (user_id,)).fetchone() is None:
            raise not_found("user", user_id)
        rows = conn.execute(
            "SELECT rank, track_id, score, reason FROM recommendations "
            "WHERE user_id = ? ORDER BY rank LIMIT ?",
            (user_id, limit),
        ).fetchall()
        return json_response(
            {
                "user_id": user_id,
                "items": [dict(r) for r in rows],
                "model_version": MODEL_VERSION,
                "generated_at": "2025-06-01T00:00:00Z",
                "experiment_bucket": f"b{int(user_id[1:]) % 4}" if user_id[1:].isdigit() else "b0",
            }
        )

    return app


def main() -> None:
    run_service("recommendations", 9007, SCHEMA, load, build_app)


if __name__ == "__main__":
    main()
