"""Live routes on tailor's HTTP/1.1 server, with a real WebSocket client (``websockets``) and
raw event-stream requests: what is refused before the upgrade, and what the socket does after."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
import websockets
from harness import sign
from live_app import COOKIE, ORIGIN, Served
from prometheus_client import generate_latest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tailor.live import Event

WAIT = 5.0


async def _login(served: Served, user: str = "u1") -> str:
    async with httpx.AsyncClient() as client:
        response = await client.post(f"{served.http}/login", params={"user": user})
    body = response.json()
    served.extra[body["session"]] = body["csrf"]
    return str(body["session"])


def _cookie(session: str) -> dict[str, str]:
    return {"cookie": f"{COOKIE}={session}"}


def _connect(served: Served, session: str, *, origin: str | None = ORIGIN, url: str = "",
             **options: Any) -> Any:  # fmt: skip
    return websockets.connect(
        url or served.ws,
        origin=origin,  # type: ignore[arg-type]
        additional_headers=_cookie(session),
        subprotocols=["live.v1"],  # type: ignore[list-item]
        open_timeout=WAIT,
        **options,
    )


async def _refused(connecting: Any) -> InvalidStatus:
    with pytest.raises(InvalidStatus) as refused:
        async with connecting:
            pass
    return refused.value


async def _until(condition: Any) -> None:
    """The server signals nothing when a socket it closed is gone: asked until it is."""
    async with asyncio.timeout(WAIT):
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


async def test_a_same_origin_session_gets_events_of_its_topics(make_served: Any) -> None:
    served = await make_served()
    async with _connect(served, await _login(served)) as ws:
        assert ws.subprotocol == "live.v1"
        assert len(served.live.hub) == 1  # adopted before the 101 was written
        served.feed.publish(Event("1-0", ("all",), b'{"type": "post"}', actor="u9"))
        assert json.loads(await asyncio.wait_for(ws.recv(), WAIT)) == {"type": "post"}


async def test_a_cross_site_websocket_with_the_cookie_is_refused_403(make_served: Any) -> None:
    served = await make_served()
    refused = await _refused(_connect(served, await _login(served), origin="https://evil.example"))
    assert refused.response.status_code == 403


async def test_a_session_websocket_without_an_origin_is_refused_403(make_served: Any) -> None:
    served = await make_served()
    refused = await _refused(_connect(served, await _login(served), origin=None))
    assert refused.response.status_code == 403


async def test_a_bearer_token_in_the_subprotocol_authenticates_and_is_not_echoed(
    make_served: Any,
) -> None:
    served = await make_served()
    offered = ["live.v1", f"bearer.{sign(sub='u7')}"]
    async with websockets.connect(served.ws, subprotocols=offered, open_timeout=WAIT) as ws:  # type: ignore[arg-type]
        assert ws.subprotocol == "live.v1"
        assert len(served.live.hub) == 1  # adopted before the 101 was written
        assert served.live.hub.of_user("u7")


async def test_a_subprotocol_token_is_not_left_in_the_verifiers_cache(make_served: Any) -> None:
    served = await make_served()
    token = sign(sub="u7")
    offered = ["live.v1", f"bearer.{token}"]
    async with websockets.connect(served.ws, subprotocols=offered, open_timeout=WAIT):  # type: ignore[arg-type]
        verifier = served.live._verifier
        assert verifier is not None and len(served.live.hub) == 1
        assert verifier.cached(token) is None


async def test_a_subprotocol_token_cached_before_the_upgrade_stays_cached(
    make_served: Any,
) -> None:
    served = await make_served()
    token = sign(sub="u7")
    verifier = served.live._verifier
    assert verifier is not None
    await verifier.verify(token)  # as a request of the same client before its socket would
    offered = ["live.v1", f"bearer.{token}"]
    async with websockets.connect(served.ws, subprotocols=offered, open_timeout=WAIT):  # type: ignore[arg-type]
        assert len(served.live.hub) == 1
        assert verifier.cached(token) is not None


async def test_a_bad_bearer_token_in_the_subprotocol_is_refused_401(make_served: Any) -> None:
    served = await make_served()
    offered = ["live.v1", "bearer.not-a-token"]
    refused = await _refused(websockets.connect(served.ws, subprotocols=offered))  # type: ignore[arg-type]
    assert refused.response.status_code == 401


async def test_a_token_in_the_query_string_is_refused_400(make_served: Any) -> None:
    served = await make_served()
    url = f"{served.ws}?access_token={sign()}"
    refused = await _refused(websockets.connect(url))
    assert refused.response.status_code == 400


async def test_a_plain_get_on_the_websocket_route_is_refused_426(make_served: Any) -> None:
    served = await make_served()
    async with httpx.AsyncClient() as client:
        response = await client.get(served.ws.replace("ws:", "http:"))
    assert response.status_code == 426
    assert response.headers["content-type"] == "application/problem+json"


async def test_no_session_no_credential_is_refused_401(make_served: Any) -> None:
    served = await make_served()
    refused = await _refused(websockets.connect(served.ws, origin=ORIGIN))  # type: ignore[arg-type]
    assert refused.response.status_code == 401


async def test_a_user_over_the_per_user_cap_is_refused_429_with_retry_after(
    make_served: Any,
) -> None:
    served = await make_served(max_per_user=1)
    session = await _login(served)
    async with _connect(served, session):
        assert served.live.connections == 1
        refused = await _refused(_connect(served, session))
    assert refused.response.status_code == 429
    assert refused.response.headers["retry-after"] == "5"


async def test_a_worker_at_its_cap_is_refused_503_before_authentication(make_served: Any) -> None:
    served = await make_served(max_per_worker=1)
    async with _connect(served, await _login(served)):
        assert served.live.connections == 1
        refused = await _refused(websockets.connect(served.ws))  # no credential at all
    assert refused.response.status_code == 503
    assert "retry-after" in refused.response.headers


async def test_a_websocket_resumes_after_since(make_served: Any) -> None:
    served = await make_served()
    for n in (1, 2, 3):
        served.feed.log.append(Event(f"{n}-0", ("all",), b'{"n": %d}' % n, actor="u9"))
    async with _connect(served, await _login(served), url=f"{served.ws}?since=1-0") as ws:
        got = [json.loads(await asyncio.wait_for(ws.recv(), WAIT)) for _ in range(2)]
    assert got == [{"n": 2}, {"n": 3}]


async def test_a_resume_from_an_unknown_id_is_a_gap(make_served: Any) -> None:
    served = await make_served()
    async with _connect(served, await _login(served), url=f"{served.ws}?since=9-9") as ws:
        assert json.loads(await asyncio.wait_for(ws.recv(), WAIT)) == {"type": "gap"}


async def test_logout_closes_the_sessions_socket_with_1008(make_served: Any) -> None:
    served = await make_served()
    session = await _login(served)
    async with _connect(served, session) as ws:
        assert served.live.connections == 1
        async with httpx.AsyncClient() as client:
            csrf = {"x-csrf-token": served.extra[session], "origin": ORIGIN}
            gone = await client.delete(f"{served.http}/login", headers=_cookie(session) | csrf)
            assert gone.status_code == 204
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), WAIT)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008


async def test_a_graceful_stop_closes_with_1001_and_a_retry_hint(make_served: Any) -> None:
    served = await make_served(reconnect_min_ms=100, reconnect_max_ms=200)
    async with _connect(served, await _login(served)) as ws:
        assert served.live.connections == 1
        stopping = asyncio.create_task(served.server.close(grace_s=2))
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), WAIT)
        await stopping
    rcvd = closed.value.rcvd
    assert rcvd is not None and rcvd.code == 1001
    assert 100 <= json.loads(rcvd.reason)["retry_ms"] <= 200


async def test_a_message_over_the_limit_closes_with_1009(make_served: Any) -> None:
    served = await make_served(max_message_bytes=200)
    async with _connect(served, await _login(served)) as ws:
        await ws.send("x" * 201)
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), WAIT)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009


async def test_the_admin_port_counts_open_connections_and_refusals(make_served: Any) -> None:
    served = await make_served(max_per_user=1)
    session = await _login(served)
    async with _connect(served, session):
        await _refused(_connect(served, session))
        scraped = generate_latest(served.bff.metrics.registry).decode()
    assert "tailor_live_connections 1.0" in scraped
    assert 'tailor_live_refused_total{status="429"} 1.0' in scraped


async def test_a_closed_socket_frees_its_place_in_the_caps(make_served: Any) -> None:
    served = await make_served(max_per_user=1)
    session = await _login(served)
    async with _connect(served, session):
        assert served.live.connections == 1
    await _until(lambda: served.live.connections == 0)
    async with _connect(served, session) as ws:
        assert ws.subprotocol == "live.v1"


# -- server-sent events, with a raw client ---------------------------------------------------


async def _sse(served: Served, session: str, **headers: str) -> tuple[Any, Any, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
    fields = "".join(f"{k}: {v}\r\n" for k, v in {**_cookie(session), **headers}.items())
    writer.write(f"GET /live/sse HTTP/1.1\r\nhost: a\r\n{fields}\r\n".encode())
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), WAIT)
    return reader, writer, head


async def test_an_event_stream_answers_200_text_event_stream(make_served: Any) -> None:
    served = await make_served()
    _, writer, head = await _sse(served, await _login(served))
    writer.close()
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"content-type: text/event-stream\r\n" in head and b"content-length" not in head


async def test_an_event_stream_resumes_after_last_event_id(make_served: Any) -> None:
    served = await make_served()
    for n in (1, 2):
        served.feed.log.append(Event(f"{n}-0", ("all",), b'{"n": %d}' % n, actor="u9"))
    reader, writer, _ = await _sse(served, await _login(served), **{"last-event-id": "1-0"})
    await asyncio.wait_for(reader.readuntil(b"\n\n"), WAIT)  # retry:
    event = await asyncio.wait_for(reader.readuntil(b"\n\n"), WAIT)
    writer.close()
    assert event == b'id: 2-0\ndata: {"n": 2}\n\n'


async def test_a_cross_site_event_stream_is_refused_403(make_served: Any) -> None:
    served = await make_served()
    _, writer, head = await _sse(served, await _login(served), origin="https://evil.example")
    writer.close()
    assert head.startswith(b"HTTP/1.1 403 ")
