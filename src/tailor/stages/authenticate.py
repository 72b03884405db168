"""Authentication: a bearer JWT on every route that asks for it; 401 with a challenge
otherwise. The token ends here: nothing of it travels inward."""

from __future__ import annotations

import logging

from tailor.auth.jwt import InvalidToken, JWTVerifier, KeysUnavailable
from tailor.http import Request, Response
from tailor.pipeline import BuildContext
from tailor.problem import problem_response
from tailor.routing import Handler

log = logging.getLogger("tailor.auth")


class AuthenticateStage:
    def __init__(self, verifier: JWTVerifier, realm: str) -> None:
        self._verifier = verifier
        self._challenge = f'Bearer realm="{realm}"'
        self._invalid = f'Bearer realm="{realm}", error="invalid_token"'

    @classmethod
    def build(cls, ctx: BuildContext) -> AuthenticateStage | None:
        if ctx.verifier is None:
            return None
        return cls(ctx.verifier, ctx.config.name)

    def wrap(self, next_handler: Handler) -> Handler:
        verify = self._verifier.verify

        async def authenticate(request: Request) -> Response:
            route = request.route
            if route is not None and not route.auth:
                return await next_handler(request)
            header = request.headers.get("authorization", "")
            scheme, _, token = header.partition(" ")
            if not token or scheme.lower() != "bearer":
                return problem_response(
                    401,
                    "a bearer token is required",
                    headers=(("www-authenticate", self._challenge),),
                )
            try:
                request.principal = await verify(token.strip())
            except InvalidToken as exc:
                log.info("token refused: %s", exc)
                return problem_response(
                    401,
                    "the bearer token is not valid",
                    headers=(("www-authenticate", self._invalid),),
                )
            except KeysUnavailable:
                log.warning("cannot verify tokens: signing keys unavailable", exc_info=True)
                return problem_response(
                    503,
                    "authentication is unavailable, try again shortly",
                    headers=(("retry-after", "1"),),
                )
            return await next_handler(request)

        return authenticate
