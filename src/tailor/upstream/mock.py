"""A transport for unit tests: a function answers each request, no sockets involved.

>>> async def answer(req: UpstreamRequest) -> UpstreamResponse:
...     return UpstreamResponse(200, {}, b'{"id": "u1"}')
>>> transport = MockTransport(answer)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from tailor.upstream.transport import UpstreamRequest, UpstreamResponse

Responder = Callable[[UpstreamRequest], Awaitable[UpstreamResponse]]


class MockTransport:
    def __init__(self, responder: Responder) -> None:
        self._responder = responder
        self.requests: list[UpstreamRequest] = []

    async def send(self, request: UpstreamRequest) -> UpstreamResponse:
        self.requests.append(request)
        return await self._responder(request)

    async def aclose(self) -> None:
        return None
