"""users (9002): profiles, with counters that agree with the social and tracks services."""

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
CREATE TABLE users (
    id TEXT PRIMARY KEY, username TEXT NOT NULL UNIQUE, display_name TEXT NOT NULL,
    avatar_url TEXT, bio TEXT, country TEXT NOT NULL, city TEXT, email TEXT NOT NULL,
    date_of_birth TEXT, phone TEXT, last_login_ip TEXT, plan TEXT NOT NULL,
    verified INTEGER NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
    internal_notes TEXT, risk_score REAL, followers_count INTEGER NOT NULL,
    followings_count INTEGER NOT NULL, track_count INTEGER NOT NULL
);
"""
BOOLS = ("verified",)


def load(conn: sqlite3.Connection, world: World) -> None:
    insert_rows(conn, "users", world.users)


def build_app(conn: sqlite3.Connection, args: argparse.Namespace) -> FastAPI:
    app = create_app("users", "User profiles (full internal representation, PII included).")

    @app.get("/users/{user_id}", responses=returns(m.User, 404))
    async def get_user(user_id: str) -> Response:
        row = conn.execute("SELECT * FROM users WHERE id = ?", (user_id,)).fetchone()
        if row is None:
            raise not_found("user", user_id)
        return json_response(row_dict(row, BOOLS))

    @app.get("/users", responses=returns(m.Users))
    async def list_users(ids: str = Query(..., description="comma-separated, max 100")) -> Response:
        wanted = parse_ids(ids)
        rows = fetch_in(conn, "SELECT * FROM users WHERE id IN ({marks})", wanted)
        return json_response({"items": in_order((row_dict(r, BOOLS) for r in rows), wanted)})

    return app


def main() -> None:
    run_service("users", 9002, SCHEMA, load, build_app)


if __name__ == "__main__":
    main()
