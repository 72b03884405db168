"""Service databases: built once per (seed, scale), reused on restart, rebuilt on change."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from waveform.seed import World
from waveform.services import users
from waveform.services.common import open_database


def test_database_is_reused_for_same_seed_and_scale_and_rebuilt_otherwise(tmp_path: Path) -> None:
    builds: list[int] = []

    def load(conn: sqlite3.Connection, world: World) -> None:
        builds.append(world.scale)
        users.load(conn, world)

    for scale in (100, 100, 600):
        conn = open_database(tmp_path, "users", 1, scale, users.SCHEMA, load)
        count = conn.execute("SELECT count(*) FROM users").fetchone()[0]
        conn.close()
    assert builds == [100, 600]
    assert count == 60
    assert not list(tmp_path.glob(".*.tmp"))
