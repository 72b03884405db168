"""Authentication: the profile's authenticators, in order; 401 with a challenge when none
recognises a credential. The client's credential ends here: nothing of it travels inward."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from tailor.auth.authenticator import Authenticator, CredentialsUnavailable, InvalidCredential
from tailor.http import Request, Response
from tailor.pipeline import BuildContext
from tailor.problem import problem_response
from tailor.routing import Handler

log = logging.getLogger("tailor.auth")


class AuthenticateStage:
    def __init__(self, authenticators: Sequence[Authenticator], realm: str) -> None:
        self._authenticators = tuple(authenticators)
        self._challenges = tuple(("www-authenticate", a.challenge) for a in authenticators)
        self._invalid = (("www-authenticate", f'Bearer realm="{realm}", error="invalid_token"'),)

    @classmethod
    def build(cls, ctx: BuildContext) -> AuthenticateStage | None:
        if not ctx.authenticators:
            return None
        return cls(ctx.authenticators, ctx.config.name)

    def wrap(self, next_handler: Handler) -> Handler:
        authenticators = self._authenticators

        async def authenticate(request: Request) -> Response:
            route = request.route
            if route is not None and not route.auth:
                return await next_handler(request)
            try:
                for authenticator in authenticators:
                    principal = await authenticator.authenticate(request)
                    if principal is not None:
                        request.principal = principal
                        return await next_handler(request)
            except InvalidCredential as exc:
                log.info("credential refused: %s", exc)
                return problem_response(401, "the credential is not valid", headers=self._invalid)
            except CredentialsUnavailable:
                log.warning("cannot check credentials now", exc_info=True)
                return problem_response(
                    503,
                    "authentication is unavailable, try again shortly",
                    headers=(("retry-after", "1"),),
                )
            return problem_response(401, "a credential is required", headers=self._challenges)

        return authenticate
