"""Header hygiene, both ways.

Inbound: headers only tailor may set on an inward call (``X-User-Id``, the internal token, the
deadline, ...) are dropped, as are hop-by-hop headers and ``X-Forwarded-*`` (no proxy is
trusted unless configured). Inward requests are built from scratch anyway; dropping them here
also keeps them away from handlers that might read them.
Outbound: no ``Server`` or ``X-Powered-By`` and no internal header on any response.
"""

from __future__ import annotations

from tailor.http import Request, Response
from tailor.pipeline import BuildContext
from tailor.routing import Handler

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "upgrade",
    }
)
FORWARDED = frozenset({"forwarded", "x-forwarded-for", "x-forwarded-host", "x-forwarded-proto"})
RESPONSE_FORBIDDEN = frozenset({"server", "x-powered-by"})


class SanitizeStage:
    def __init__(self, internal: frozenset[str]) -> None:
        self._drop_inbound = internal | HOP_BY_HOP | FORWARDED
        self._drop_outbound = internal | RESPONSE_FORBIDDEN

    @classmethod
    def build(cls, ctx: BuildContext) -> SanitizeStage:
        internal = frozenset(h.lower() for h in ctx.config.sanitize.internal_headers)
        return cls(internal)

    def wrap(self, next_handler: Handler) -> Handler:
        drop_in = self._drop_inbound
        drop_out = self._drop_outbound

        async def sanitize(request: Request) -> Response:
            headers = request.headers
            for name in [n for n in headers if n in drop_in]:
                del headers[name]
            response = await next_handler(request)
            if any(name in drop_out for name, _ in response.headers):
                response.headers = [(n, v) for n, v in response.headers if n not in drop_out]
            return response

        return sanitize
