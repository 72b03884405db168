"""The server hands a connection to a route's protocol (tailor.serve.handover)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tailor.http import Request, Response
from tailor.serve.handover import Handover
from tailor.serve.http1 import Http1Server, ServerSettings


class Echo(asyncio.Protocol):
    """The adopting protocol: echoes what it reads, starting with what came with the head."""

    def __init__(self, transport: asyncio.Transport, tail: bytes) -> None:
        self.transport = transport
        transport.resume_reading()
        if tail:
            transport.write(b"tail:" + tail)

    def data_received(self, data: bytes) -> None:
        self.transport.write(b"echo:" + data)


def _answer(request: Request) -> Response:
    headers = [("x-route", "a\r\nset-cookie: x" if request.path == "/bad" else "ok")]
    upgrade = "echo" if request.path == "/ws" else ""
    status = 101 if request.path == "/ws" else 200
    return Handover(status, headers, lambda t, tail, server: Echo(t, tail), upgrade=upgrade)


@pytest.fixture
async def server() -> AsyncIterator[Http1Server]:
    served = Http1Server(_answer, ServerSettings())
    await served.start(host="127.0.0.1", port=0)
    yield served
    await served.close(grace_s=1)


async def _exchange(server: Http1Server, request: bytes, *, then: bytes = b"") -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(request)
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    rest = b""
    if then:
        writer.write(then)
        rest = await asyncio.wait_for(reader.readuntil(then), 5)
    writer.close()
    return head + rest


UPGRADE = b"GET /ws HTTP/1.1\r\nhost: a\r\nconnection: Upgrade\r\nupgrade: echo\r\n"


async def test_a_101_names_the_protocol_and_the_route_reads_what_follows(
    server: Http1Server,
) -> None:
    got = await _exchange(server, UPGRADE + b"\r\n", then=b"hello")
    assert got.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
    assert b"connection: upgrade\r\nupgrade: echo\r\n" in got and got.endswith(b"echo:hello")


async def test_bytes_sent_with_the_upgrade_head_reach_the_route(server: Http1Server) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(UPGRADE + b"\r\nearly")
    got = await asyncio.wait_for(reader.readuntil(b"tail:early"), 5)
    writer.close()
    assert got.endswith(b"tail:early")


async def test_a_handover_without_an_upgrade_closes_after_its_head(server: Http1Server) -> None:
    got = await _exchange(server, b"GET /stream HTTP/1.1\r\nhost: a\r\n\r\n")
    assert got.startswith(b"HTTP/1.1 200 OK\r\n") and b"connection: close\r\n" in got
    assert b"content-length" not in got


async def test_a_101_to_a_request_that_asked_no_upgrade_is_refused_400(
    server: Http1Server,
) -> None:
    got = await _exchange(server, b"GET /ws HTTP/1.1\r\nhost: a\r\n\r\n")
    assert got.startswith(b"HTTP/1.1 400 ")


async def test_a_handover_with_cr_or_lf_in_a_header_is_never_written(
    server: Http1Server,
) -> None:
    got = await _exchange(server, b"GET /bad HTTP/1.1\r\nhost: a\r\n\r\n")
    assert got.startswith(b"HTTP/1.1 500 ") and b"set-cookie" not in got


async def test_a_handed_over_connection_is_the_servers_no_more(server: Http1Server) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(UPGRADE + b"\r\n")
    await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    counted: Any = len(server.connections)
    writer.close()
    assert counted == 0  # the adopting protocol here does not register itself
