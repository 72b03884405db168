"""A BFF with live routes on tailor's HTTP/1.1 server, in process: a session cookie (memory
store) and bearer JWTs for callers, a feed the test publishes to by hand."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from harness import AUDIENCE, ISSUER, rsa_key

from tailor import BFF, Request, Response, build_config, json_response
from tailor.config import deep_merge
from tailor.live import Event, Hub, Live
from tailor.serve.http1 import Http1Server

ORIGIN = "http://app.example"
COOKIE = "sid"


class HandFeed:
    """Topics are the caller's subject and ``all``; the log is a list the test appends to."""

    def __init__(self) -> None:
        self.hub: Hub | None = None
        self.log: list[Event] = []

    def start(self, hub: Hub) -> None:
        self.hub = hub

    async def topics(self, request: Request) -> set[str]:
        assert request.principal is not None
        return {"all", f"user:{request.principal.subject}"}

    async def replay(self, after: str, limit: int) -> list[Event] | None:
        ids = [e.id for e in self.log]
        if after not in ids:
            return None
        missed = self.log[ids.index(after) + 1 :]
        return None if len(missed) > limit else missed

    def publish(self, event: Event) -> int:
        self.log.append(event)
        return self.hub.publish(event) if self.hub is not None else 0


@dataclass
class Served:
    bff: BFF
    live: Live
    feed: HandFeed
    server: Http1Server
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}/live"


def build(
    tmp_path: Path, live_settings: dict[str, Any] | None = None
) -> tuple[BFF, Live, HandFeed]:
    pem = (
        rsa_key("k1")
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    key = tmp_path / "k1.pem"
    key.write_bytes(pem)
    config = deep_merge(
        {"name": "live-test", "admin": {"enabled": False}},
        {
            "auth": {
                "jwt": {"issuer": ISSUER, "audience": AUDIENCE, "public_key_file": str(key),
                        "public_key_kid": "k1"},
                "session": {"cookie_name": COOKIE, "secure": False, "allowed_origins": [ORIGIN],
                            "store": "memory"},
            },
            "stages": {"live": {"ping_interval_s": 1, "pong_timeout_s": 1,
                                "slow_consumer_s": 1, **(live_settings or {})}},
        },
    )  # fmt: skip
    bff = BFF(build_config(config))
    feed = HandFeed()
    live = Live(bff, feed, websocket="/live", sse="/live/sse")

    @bff.post("/login", auth=False)
    async def login(request: Request) -> Response:
        assert request.sessions is not None
        user = request.query.get("user", "u1")
        session_id, session = await request.sessions.create(user)
        response = json_response({"session": session_id, "csrf": session.csrf_token})
        response.headers.append(("set-cookie", request.sessions.cookie(session_id)))
        return response

    @bff.route("DELETE", "/login", response=None)
    async def logout(request: Request) -> Response:
        principal = request.principal
        assert principal is not None and request.sessions is not None
        await request.sessions.end(principal.session_id)
        live.end_session(principal.subject, principal.session_id)
        return Response(204)

    return bff, live, feed
