"""The server's floor for a cache hit: granian RSGI answering the same bytes with the same
headers as tailor's cache hit, and nothing else (no routing, no stage, no lookup).

What it measures is what no Python pipeline on granian can beat: the gap between it and
tailor's cache hit is the pipeline's own cost; the gap between it and nginx is the server's.

    FLOOR_BODY=home.json FLOOR_HEADERS='[["content-type", "application/json"]]' \\
        python -m granian --interface rsgi --factory benchmarks.peers.granian_floor:create
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def create() -> Any:
    body = Path(os.environ["FLOOR_BODY"]).read_bytes()
    headers = [(str(name), str(value)) for name, value in json.loads(os.environ["FLOOR_HEADERS"])]

    async def app(scope: Any, protocol: Any) -> None:
        protocol.response_bytes(200, headers, body)

    return app
