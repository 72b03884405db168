"""Request limits: header size (431), body size (413), body receive deadline (408).

The body is read here, once, bounded in size and time, so a slow or huge upload is refused
before any handler or upstream call sees it. (The server's own header-read timeout covers a
client that dribbles its headers; see ``limits.header_read_timeout_s``.)
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from tailor.chain import Chain, Outcome, awaitable
from tailor.config import Limits
from tailor.http import Request, Response
from tailor.problem import problem_response

if TYPE_CHECKING:
    from tailor.pipeline import BuildContext


class LimitsStage:
    name = "limits"

    def __init__(self, limits: Limits) -> None:
        self._limits = limits

    @classmethod
    def build(cls, ctx: BuildContext) -> LimitsStage:
        return cls(ctx.config.limits)

    def wrap(self, next_handler: Chain) -> Chain:
        max_headers = self._limits.max_header_bytes
        max_body = self._limits.max_body_bytes
        receive_timeout = self._limits.receive_timeout_s

        # Not a coroutine: a request without a body is handed on as it is (see
        # tailor.pipeline); one with a body is read by with_body first.
        def limits(request: Request) -> Outcome:
            headers = request.headers
            # name + ": " + value + CRLF per field, summed in C
            size = sum(map(len, headers)) + sum(map(len, headers.values())) + 4 * len(headers)
            if size > max_headers:
                return problem_response(
                    431, "request headers too large", request_id=request.request_id
                )
            length = headers.get("content-length")
            chunked = "chunked" in headers.get("transfer-encoding", "")
            if length is not None:
                if not length.isdigit():
                    return problem_response(
                        400, "malformed content-length", request_id=request.request_id
                    )
                if int(length) > max_body:
                    return problem_response(
                        413, f"request body over {max_body} bytes", request_id=request.request_id
                    )
            if chunked or (length is not None and length != "0"):
                return with_body(request)
            return next_handler(request)

        async def with_body(request: Request) -> Response:
            try:
                async with asyncio.timeout(receive_timeout):
                    body = await _read_bounded(request, max_body)
            except TimeoutError:
                return problem_response(
                    408, "request body not received in time", request_id=request.request_id
                )
            if body is None:
                return problem_response(
                    413, f"request body over {max_body} bytes", request_id=request.request_id
                )
            request.body = body
            return await awaitable(next_handler(request))

        return limits


async def _read_bounded(request: Request, limit: int) -> bytes | None:
    chunks: list[bytes] = []
    total = 0
    async for chunk in request.read_body():
        if not chunk:
            continue
        total += len(chunk)
        if total > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)
