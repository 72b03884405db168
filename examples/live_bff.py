"""Live updates: a WebSocket and an event stream on a BFF, fed by a feed of its own.

    python live_bff.py      # then, in a browser's console on http://127.0.0.1:8093 ...

The feed here is a clock: one event a second to everyone. A real feed reads the platform's
event log (the web BFF's: platform/src/waveform/bffs/web/live.py). docs/live.md walks
through it.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

from tailor import BFF, Config, Request, Response, json_response
from tailor.live import Event, Hub, Live
from tailor.serve.run import config_from_env, main

PROFILE = {
    "name": "ticker",
    "listen": {"port": 8093},
    "admin": {"enabled": False},
    # Browsers hold a session cookie; a page of another origin may not open the socket.
    "auth": {
        "session": {
            "cookie_name": "ticker-session",
            "secure": False,  # a plain-http demo: a deployment keeps the default (True)
            "allowed_origins": ["http://127.0.0.1:8093"],
        }
    },
    # The live limits, validated at startup (a bad one stops it naming the key).
    "stages": {"live": {"max_per_user": 4, "ping_interval_s": 20}},
}


class ClockFeed:
    """One event every ``interval_s`` to the topic ``all``, which every caller hears."""

    def __init__(self, interval_s: float = 1.0) -> None:
        self.interval_s = interval_s
        self.task: asyncio.Task[None] | None = None

    def start(self, hub: Hub) -> None:
        self.task = asyncio.get_running_loop().create_task(self._tick(hub))

    async def _tick(self, hub: Hub) -> None:
        n = 0
        while True:
            n += 1
            body = json.dumps({"type": "tick", "n": n, "at": time.time()}).encode()
            hub.publish(Event(f"{n}-0", ("all",), body))
            await asyncio.sleep(self.interval_s)

    async def topics(self, request: Request) -> set[str]:
        return {"all"}

    async def replay(self, after: str, limit: int) -> list[Event] | None:
        return None  # no event log here: a client that resumes is told of a gap


def build(config: Config, feed: ClockFeed | None = None) -> BFF:
    bff = BFF(config)
    Live(bff, feed or ClockFeed(), websocket="/live", sse="/live/sse")

    @bff.post("/login", auth=False)
    async def login(request: Request) -> Response:
        # A demo login: anyone is "demo". A real BFF asks its accounts service.
        assert request.sessions is not None
        session_id, session = await request.sessions.create("demo")
        answer = json_response({"csrf_token": session.csrf_token})
        answer.headers.append(("set-cookie", request.sessions.cookie(session_id)))
        return answer

    return bff


def create() -> BFF:
    return build(config_from_env(PROFILE))


if __name__ == "__main__":
    sys.exit(main("live_bff:create", PROFILE))
