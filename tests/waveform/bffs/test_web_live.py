"""Live updates on the running web BFF (real processes, a real Redis): the WebSocket and the
event stream, fed by domain events on ``waveform:events``, with the demo users (alice, u1,
follows bob, u2). The events are appended the way the services emit them
(:meth:`waveform.services.events.Events.emit`'s fields), so each test controls which happen.

The last test stops the web BFF (SIGTERM): nothing after it in this module uses it."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
import redis
import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus

from platforms import metric
from tailor.config import deep_merge
from waveform.seed import PUBLIC_TRACK
from waveform.supervisor import Platform

COOKIE = "waveform-session"
STREAM = "waveform:events"
WAIT = 10.0
#: Tighter than the profile's, so the limits show within a test's time.
LIVE = {"max_per_user": 3, "send_buffer_bytes": 16384, "slow_consumer_s": 2}


class LivePlatform(Platform):
    def bff_config(self, name: str) -> dict[str, object]:
        config = super().bff_config(name)
        return deep_merge(config, {"stages": {"live": LIVE}}) if name == "web" else config


@pytest.fixture(scope="module")
def live_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    data_dir: Path = tmp_path_factory.mktemp("live-platform")
    with LivePlatform(data_dir, ephemeral=True, scale=300, redis=True, startup_timeout=40) as p:
        assert not p.failures, [f.describe() for f in p.failures.values()]
        yield p


@pytest.fixture(scope="module")
def bus(live_platform: Platform) -> Iterator[redis.Redis]:
    assert live_platform.redis is not None
    client = redis.Redis.from_url(live_platform.redis.url)
    yield client
    client.close()


def emit(bus: redis.Redis, type_: str, **data: str) -> str:
    """Append a domain event as a service does; its stream id."""
    fields = {"type": type_, "source": "tests", "data": msgspec.json.encode(data)}
    return bus.xadd(STREAM, fields).decode()  # type: ignore[union-attr]


class Browser:
    """A logged-in session: its cookie, CSRF token and the BFF's origin."""

    def __init__(self, platform: Platform, username: str) -> None:
        self.base = platform.url("web")
        self.ws_url = self.base.replace("http:", "ws:") + "/api/live"
        with httpx.Client(timeout=10) as http:
            response = http.post(
                f"{self.base}/api/session",
                json={"username": username, "password": f"wave-{username}"},
                headers={"origin": self.base},
            )
        assert response.status_code == 200, response.text
        self.session = response.headers["set-cookie"].split(";")[0]
        self.csrf = response.json()["csrf_token"]

    def connect(self, *, origin: str | None = None, query: str = "") -> Any:
        return websockets.connect(
            self.ws_url + query,
            origin=origin or self.base,  # type: ignore[arg-type]
            additional_headers={"cookie": self.session},
            subprotocols=["waveform.live.v1"],  # type: ignore[list-item]
            open_timeout=WAIT,
        )

    def logout(self) -> None:
        with httpx.Client(timeout=10) as http:
            response = http.delete(
                f"{self.base}/api/session",
                headers={"cookie": self.session, "origin": self.base, "x-csrf-token": self.csrf},
            )
        assert response.status_code == 204


async def _next(ws: Any) -> dict[str, Any]:
    return dict(json.loads(await asyncio.wait_for(ws.recv(), WAIT)))


async def _refused(connecting: Any) -> httpx.Response | Any:
    with pytest.raises(InvalidStatus) as refused:
        async with connecting:
            pass
    response = refused.value.response
    assert response.headers["content-type"] == "application/problem+json"
    assert b"Traceback" not in response.body
    return response


# -- events ----------------------------------------------------------------------------------


async def test_a_post_by_someone_followed_arrives_in_the_contract_shape(
    live_platform: Platform, bus: redis.Redis
) -> None:
    alice = Browser(live_platform, "alice")
    async with alice.connect() as ws:
        event_id = emit(bus, "track.published", track_id=PUBLIC_TRACK, owner_id="u2")
        event = await _next(ws)
    assert event["id"] == event_id and event["type"] == "post"
    assert event["actor"] == {"id": "u2", "username": "bob"}
    assert event["track"]["id"] == PUBLIC_TRACK and event["track"]["title"]
    assert abs(event["at"] - int(event_id.split("-")[0]) / 1000) < 1


async def test_a_like_of_ones_own_track_arrives_and_a_strangers_post_does_not(
    live_platform: Platform, bus: redis.Redis
) -> None:
    bob = Browser(live_platform, "bob")
    async with bob.connect() as ws:
        emit(bus, "track.published", track_id="t9", owner_id="u299")  # bob does not follow u299
        liked = emit(bus, "track.liked", track_id=PUBLIC_TRACK, owner_id="u2", user_id="u3")
        event = await _next(ws)
    assert (event["id"], event["type"], event["actor"]["username"]) == (liked, "like", "carol")


async def test_a_repost_by_someone_followed_arrives_as_a_repost(
    live_platform: Platform, bus: redis.Redis
) -> None:
    alice = Browser(live_platform, "alice")
    async with alice.connect() as ws:
        emit(bus, "track.reposted", track_id=PUBLIC_TRACK, owner_id="u2", user_id="u2")
        event = await _next(ws)
    assert event["type"] == "repost" and event["actor"]["id"] == "u2"


async def test_an_event_stream_resumes_after_last_event_id(
    live_platform: Platform, bus: redis.Redis
) -> None:
    alice = Browser(live_platform, "alice")
    first = emit(bus, "track.published", track_id=PUBLIC_TRACK, owner_id="u2")
    second = emit(bus, "track.reposted", track_id=PUBLIC_TRACK, owner_id="u2", user_id="u2")
    host, port = alice.base.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        f"GET /api/live/sse HTTP/1.1\r\nhost: {host}:{port}\r\ncookie: {alice.session}\r\n"
        f"accept: text/event-stream\r\nlast-event-id: {first}\r\n\r\n".encode()
    )
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), WAIT)
    await asyncio.wait_for(reader.readuntil(b"\n\n"), WAIT)  # the retry: line
    event = await asyncio.wait_for(reader.readuntil(b"\n\n"), WAIT)
    writer.close()
    assert head.startswith(b"HTTP/1.1 200 ") and b"text/event-stream" in head
    lines = event.decode().splitlines()
    assert lines[0] == f"id: {second}" and json.loads(lines[1][6:])["type"] == "repost"


async def test_a_websocket_resumes_after_since(live_platform: Platform, bus: redis.Redis) -> None:
    alice = Browser(live_platform, "alice")
    first = emit(bus, "track.published", track_id=PUBLIC_TRACK, owner_id="u2")
    second = emit(bus, "track.published", track_id=PUBLIC_TRACK, owner_id="u2")
    async with alice.connect(query=f"?since={first}") as ws:
        assert (await _next(ws))["id"] == second


def _gauge(platform: Platform, name: str) -> float:
    return metric(platform.admin_url("web"), name)


def _social(platform: Platform, method: str, path: str, user: str) -> httpx.Response:
    token = platform.internal_token("social", user)
    response = httpx.request(method, f"{platform.url('social')}{path}", timeout=10,
                             headers={"authorization": f"Bearer {token}"})  # fmt: skip
    assert response.status_code == 200, response.text
    return response


async def test_a_connection_adds_one_topic_to_the_hub_whatever_its_user_follows(
    live_platform: Platform, bus: redis.Redis
) -> None:
    follows = _social(live_platform, "GET", "/social/u1/followings?limit=1000", "u1")
    assert len(follows.json()["items"]) >= 2  # alice follows several people
    before = _gauge(live_platform, "tailor_live_topics")
    alice = Browser(live_platform, "alice")
    async with alice.connect() as ws:
        emit(bus, "track.published", track_id=PUBLIC_TRACK, owner_id="u2")
        await _next(ws)  # she is in the hub, and hears bob
        during = _gauge(live_platform, "tailor_live_topics")
    assert during - before == 1


async def test_a_follow_made_after_the_connection_opened_delivers_the_followees_next_post(
    live_platform: Platform, bus: redis.Redis
) -> None:
    follows = _social(live_platform, "GET", "/social/u1/followings?limit=1000", "u1")
    followed = {f["user_id"] for f in follows.json()["items"]}
    newcomer = next(f"u{i}" for i in range(3, 20) if f"u{i}" not in followed)
    alice = Browser(live_platform, "alice")
    async with alice.connect() as ws:
        # The newcomer's followers are read (and cached) while alice is not one of them:
        # bob's post after it arriving first says the newcomer's was resolved and skipped.
        emit(bus, "track.published", track_id=PUBLIC_TRACK, owner_id=newcomer)
        bobs = emit(bus, "track.published", track_id=PUBLIC_TRACK, owner_id="u2")
        assert (await _next(ws))["id"] == bobs
        _social(live_platform, "PUT", f"/social/followings/{newcomer}", "u1")
        try:
            theirs = emit(bus, "track.published", track_id=PUBLIC_TRACK, owner_id=newcomer)
            event = await _next(ws)
        finally:
            _social(live_platform, "DELETE", f"/social/followings/{newcomer}", "u1")
    assert (event["id"], event["actor"]["id"]) == (theirs, newcomer)


# -- authentication on the upgrade -------------------------------------------------------------


async def test_a_cross_site_websocket_with_the_session_cookie_is_refused_403(
    live_platform: Platform,
) -> None:
    alice = Browser(live_platform, "alice")
    response = await _refused(alice.connect(origin="https://evil.example"))
    assert response.status_code == 403


async def test_a_bearer_token_in_the_subprotocol_is_accepted_and_only_the_app_protocol_echoed(
    live_platform: Platform,
) -> None:
    base = live_platform.url("web")
    login = {"grant_type": "password", "username": "alice", "password": "wave-alice"}
    async with httpx.AsyncClient(timeout=10) as http:
        token = (await http.post(f"{base}/api/auth/token", json=login)).json()["access_token"]
    url = base.replace("http:", "ws:") + "/api/live"
    offered = ["waveform.live.v1", f"bearer.{token}"]
    async with websockets.connect(url, subprotocols=offered, open_timeout=WAIT) as ws:  # type: ignore[arg-type]
        assert ws.subprotocol == "waveform.live.v1"


async def test_a_token_in_the_query_string_is_refused_400(live_platform: Platform) -> None:
    url = live_platform.url("web").replace("http:", "ws:") + "/api/live?access_token=abc"
    response = await _refused(websockets.connect(url))
    assert response.status_code == 400


async def test_logout_closes_the_sessions_socket_with_1008(live_platform: Platform) -> None:
    alice = Browser(live_platform, "alice")
    async with alice.connect() as ws:
        alice.logout()
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), WAIT)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008


# -- limits ------------------------------------------------------------------------------------


async def test_a_user_over_the_cap_is_refused_429_with_retry_after(
    live_platform: Platform,
) -> None:
    alice = Browser(live_platform, "alice")
    async with alice.connect(), alice.connect(), alice.connect():
        response = await _refused(alice.connect())
    assert response.status_code == 429 and int(response.headers["retry-after"]) > 0


def _raw_websocket(browser: Browser) -> socket.socket:
    """A WebSocket opened by hand on a socket with a small receive buffer, never read."""
    host, port = browser.base.removeprefix("http://").split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, int(port)))
    sock.settimeout(WAIT)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        f"GET /api/live HTTP/1.1\r\nhost: {host}:{port}\r\nupgrade: websocket\r\n"
        f"connection: Upgrade\r\nsec-websocket-key: {key}\r\nsec-websocket-version: 13\r\n"
        f"origin: {browser.base}\r\ncookie: {browser.session}\r\n\r\n".encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 101 "), head
    return sock


def _drain(sock: socket.socket) -> bytes:
    """Everything until the server ends the connection (a close, or a reset); a server that
    keeps it open fails the test with the socket's TimeoutError."""
    got = b""
    try:
        while chunk := sock.recv(65536):
            got += chunk
    except ConnectionResetError:
        pass
    return got


def _counter(platform: Platform, name: str) -> float:
    """The web BFF's counter ``name`` (``tailor_live_..._total``) on its admin port."""
    return metric(platform.admin_url("web"), name)


def _published(platform: Platform) -> float:
    return _counter(platform, "tailor_live_events_published_total")


async def _flood(platform: Platform, bus: redis.Redis, count: int) -> None:
    """``count`` posts by bob, returning once the BFF has published every one of them (its
    admin port's count): by then each was written, or dropped, for every subscriber."""
    target = await asyncio.to_thread(_published, platform) + count
    pipe = bus.pipeline(transaction=False)
    data = msgspec.json.encode({"track_id": PUBLIC_TRACK, "owner_id": "u2"})
    for _ in range(count):
        pipe.xadd(STREAM, {"type": "track.published", "source": "tests", "data": data})
    await asyncio.to_thread(pipe.execute)
    async with asyncio.timeout(WAIT * 3):
        while await asyncio.to_thread(_published, platform) < target:  # noqa: ASYNC110
            await asyncio.sleep(0.05)  # the admin port offers no event to wait on


async def test_a_consumer_that_stops_reading_then_reads_gets_a_gap_marker(
    live_platform: Platform, bus: redis.Redis
) -> None:
    sock = _raw_websocket(Browser(live_platform, "alice"))
    await _flood(live_platform, bus, 4000)  # more than the kernel's buffer and the 16 KiB hold
    got = b""
    async with asyncio.timeout(WAIT):
        while b'{"type": "gap"}' not in got:
            got += await asyncio.to_thread(sock.recv, 65536)
    sock.close()


async def test_a_consumer_that_never_reads_is_closed_and_the_bff_serves_on(
    live_platform: Platform, bus: redis.Redis
) -> None:
    slow = "tailor_live_slow_consumers_total"
    before = await asyncio.to_thread(_counter, live_platform, slow)
    sock = _raw_websocket(Browser(live_platform, "alice"))
    await _flood(live_platform, bus, 4000)
    async with asyncio.timeout(LIVE["slow_consumer_s"] + WAIT):  # reads nothing meanwhile
        while await asyncio.to_thread(_counter, live_platform, slow) == before:  # noqa: ASYNC110
            await asyncio.sleep(0.05)  # the admin port offers no event to wait on
    await asyncio.to_thread(_drain, sock)  # what was in flight, then the end (not a timeout)
    sock.close()
    async with httpx.AsyncClient(timeout=10) as http:
        served = await http.get(f"{live_platform.url('web')}/api/openapi.json")
    assert served.status_code == 200


# -- bad frames --------------------------------------------------------------------------------


async def test_a_message_over_the_size_limit_closes_with_1009(live_platform: Platform) -> None:
    alice = Browser(live_platform, "alice")
    async with alice.connect() as ws:
        await ws.send("x" * 5000)  # the default max_message_bytes is 4096
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), WAIT)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009


def _close_code(frames: bytes) -> int:
    at = frames.index(b"\x88")  # the server's close frame (unmasked, short)
    return int.from_bytes(frames[at + 2 : at + 4], "big")


async def test_invalid_utf8_in_a_text_frame_closes_with_1007(live_platform: Platform) -> None:
    sock = _raw_websocket(Browser(live_platform, "alice"))
    mask = b"\x01\x02\x03\x04"
    payload = bytes(b ^ mask[i % 4] for i, b in enumerate(b"\xff\xfe"))
    sock.sendall(b"\x81\x82" + mask + payload)  # a final, masked text frame of 2 bytes
    got = await asyncio.to_thread(_drain, sock)
    sock.close()
    assert _close_code(got) == 1007


# -- a graceful stop (last: the web BFF stays stopped) -----------------------------------


async def test_a_graceful_stop_closes_with_1001_and_a_reconnect_hint(
    live_platform: Platform,
) -> None:
    alice = Browser(live_platform, "alice")
    async with alice.connect() as ws:
        live_platform.kill("web", signal.SIGTERM)
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), WAIT)
    rcvd = closed.value.rcvd
    assert rcvd is not None and rcvd.code == 1001
    assert json.loads(rcvd.reason)["retry_ms"] >= 0
