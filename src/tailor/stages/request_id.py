"""A request id on every request and response, propagated to every inward call.

An inbound ``X-Request-Id`` is kept only when it is a short token, so a client cannot inject
log lines or oversized values through it.
"""

from __future__ import annotations

import os
import re

from tailor.http import Request, Response
from tailor.pipeline import BuildContext
from tailor.routing import Handler

_SAFE = re.compile(r"[A-Za-z0-9_.-]{8,64}")


class RequestIdStage:
    @classmethod
    def build(cls, ctx: BuildContext) -> RequestIdStage:
        return cls()

    def wrap(self, next_handler: Handler) -> Handler:
        async def request_id(request: Request) -> Response:
            inbound = request.headers.get("x-request-id")
            rid = inbound if inbound and _SAFE.fullmatch(inbound) else os.urandom(12).hex()
            request.request_id = rid
            response = await next_handler(request)
            response.headers.append(("x-request-id", rid))
            return response

        return request_id
