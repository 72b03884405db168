"""examples/live_bff.py: a live BFF whose clock feed reaches a WebSocket and an event stream."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import pytest
import websockets
from live_bff import PROFILE, ClockFeed, build

from tailor import build_config
from tailor.config import deep_merge
from tailor.serve.http1 import Http1Server, settings_from

ORIGIN = "http://127.0.0.1:8093"


@pytest.fixture
async def served() -> AsyncIterator[tuple[int, str]]:
    config = build_config(deep_merge(PROFILE, {"listen": {"port": 0}}))
    bff = build(config, ClockFeed(interval_s=0.05))
    bff.startup(admin=False)
    server = Http1Server(bff.respond, settings_from(bff.config, bff.admitting))
    await server.start(host="127.0.0.1", port=0)
    async with httpx.AsyncClient() as client:
        login = await client.post(f"http://127.0.0.1:{server.port}/login")
    yield server.port, login.headers["set-cookie"].split(";")[0]
    await server.close(grace_s=1)
    await bff.shutdown()


async def test_a_logged_in_page_gets_ticks_on_its_websocket(served: tuple[int, str]) -> None:
    port, cookie = served
    async with websockets.connect(
        f"ws://127.0.0.1:{port}/live", origin=ORIGIN,  # type: ignore[arg-type]
        additional_headers={"cookie": cookie}, subprotocols=["live.v1"],  # type: ignore[list-item]
    ) as ws:  # fmt: skip
        tick = json.loads(await asyncio.wait_for(ws.recv(), 5))
    assert tick["type"] == "tick"


async def test_an_event_stream_gets_ticks_with_their_ids(served: tuple[int, str]) -> None:
    port, cookie = served
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET /live/sse HTTP/1.1\r\nhost: x\r\ncookie: {cookie}\r\n\r\n".encode())
    await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    await asyncio.wait_for(reader.readuntil(b"\n\n"), 5)  # retry:
    event = await asyncio.wait_for(reader.readuntil(b"\n\n"), 5)
    writer.close()
    assert event.startswith(b"id: ") and b'"type": "tick"' in event
