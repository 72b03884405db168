"""Handing a connection over: the answer that ends HTTP on a connection and gives the socket
to a protocol of the route's own (a WebSocket after ``101 Switching Protocols``, an event
stream after its ``200``).

A route answers a :class:`Handover`; the HTTP/1.1 server writes its head (no
``content-length``: what follows is not a body of known length) and then calls ``adopt``
with the transport, the bytes that arrived after the request (a client may send its first
frame without waiting for the 101), and the server, which tends the new protocol's deadlines
and stops it gracefully like any connection (:class:`~tailor.serve.http1.Served`). Nothing of
HTTP stays on the connection. Only tailor's HTTP/1.1 server hands over: a BFF with live routes
checks at startup that it serves with it, HTTP/2 off (:mod:`tailor.live.settings`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tailor.http import Response

if TYPE_CHECKING:
    from tailor.serve.http1 import Http1Server

#: What takes the connection: (transport, bytes already received, server) -> its protocol.
Adopt = Callable[[asyncio.Transport, bytes, "Http1Server"], asyncio.Protocol]


class Handover(Response):
    """An answer after which the connection is no longer HTTP's.

    >>> answer = Handover(101, [], lambda t, rest, server: None, upgrade="websocket")
    >>> answer.status, answer.body
    (101, b'')
    """

    __slots__ = ("adopt", "upgrade")

    def __init__(
        self, status: int, headers: list[tuple[str, str]], adopt: Any, upgrade: str = ""
    ) -> None:
        super().__init__(status, b"", headers)
        self.adopt: Adopt = adopt
        #: The protocol a 101 switches to: the server writes ``upgrade`` and ``connection``
        #: itself (hop-by-hop fields, which the sanitize stage keeps out of every answer);
        #: without one, the connection closes when the adopting protocol is done.
        self.upgrade = upgrade
