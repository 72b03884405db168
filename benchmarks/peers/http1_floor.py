"""The server's floor for a cache hit: tailor's HTTP/1.1 server answering the same bytes with
the same headers as tailor's cache hit, and nothing else (no routing, no stage, no lookup).

What it measures is what no pipeline on tailor's server can beat: the gap between it and
tailor's cache hit is the pipeline's own cost; the gap between it and nginx is the server's
(parsing in llhttp, a Request per request, the event loop).

    FLOOR_BODY=home.json FLOOR_HEADERS='[["content-type", "application/json"]]' \\
        python -m tailor.serve benchmarks.peers.http1_floor:create
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

from tailor.config import build_config
from tailor.http import Request, Response


class Floor:
    """What :mod:`tailor.serve.workers` asks of a BFF: config, check, startup, respond,
    shutdown."""

    def __init__(self, body: bytes, headers: list[tuple[str, str]]) -> None:
        self._body = body
        self._headers = headers
        self.config = build_config({"name": "floor", "admin": {"enabled": False}})

    def check(self) -> None:
        pass

    def startup(self, *, loop: asyncio.AbstractEventLoop | None = None) -> None:
        pass

    def respond(self, request: Request) -> Response:
        # As tailor's pipeline does with an answer it has at once: no coroutine, no task.
        return Response(200, self._body, self._headers)

    async def shutdown(self) -> None:
        pass


def create() -> Floor:
    body = Path(os.environ["FLOOR_BODY"]).read_bytes()
    headers = [(str(name), str(value)) for name, value in json.loads(os.environ["FLOOR_HEADERS"])]
    return Floor(body, headers)
