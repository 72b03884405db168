"""Authentication: the profile's authenticators, in order; 401 with a challenge when none
recognises a credential. The client's credential ends here: nothing of it travels inward.

    no credential                          -> 401 with every authenticator's challenge
    a credential presented and refused     -> 401 (same body whatever the reason)
    a session cookie the store does not know -> 401 clearing the cookie, marked
                                             ``request.stale_session`` (no guess: authguard)
    a session used cross-site (CSRF)       -> 403
    keys / key store / session store down  -> 503

An authenticator may also offer ``known(request)``: the principal of a credential it has
verified before and still holds, without waiting, else ``None``. The first authenticator's is
asked before anything else, so a returning caller costs no coroutine here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from tailor.auth.authenticator import Authenticator, CredentialsUnavailable, InvalidCredential
from tailor.auth.principal import Principal
from tailor.auth.session import CrossSiteRequest, SessionAuthenticator, StaleSession
from tailor.chain import Chain, Outcome, awaitable
from tailor.http import Request, Response
from tailor.problem import problem_response
from tailor.stages.ratelimit import ThrottledLog

if TYPE_CHECKING:
    from tailor.pipeline import BuildContext

log = logging.getLogger("tailor.auth")


def credentials_unavailable(request: Request) -> Response:
    """The 503 for credentials that cannot be checked now (a key or session store down),
    here and for a handler that needs the session store (a login, a logout)."""
    return problem_response(
        503,
        "authentication is unavailable, try again shortly",
        headers=(("retry-after", "1"),),
        request_id=request.request_id,
    )


class AuthenticateStage:
    name = "authenticate"

    def __init__(self, authenticators: Sequence[Authenticator], realm: str) -> None:
        self._authenticators = tuple(authenticators)
        # A cookie session is no HTTP authentication scheme: its challenge is empty.
        self._challenges = tuple(
            ("www-authenticate", a.challenge) for a in authenticators if a.challenge
        )
        self._invalid = (("www-authenticate", f'Bearer realm="{realm}", error="invalid_token"'),)
        # Login and logout handlers need the session manager; anything else ignores it.
        self._sessions = next(
            (a.manager for a in authenticators if isinstance(a, SessionAuthenticator)), None
        )
        sessions = self._sessions
        self._clear_cookie = (("set-cookie", sessions.expired_cookie()),) if sessions else ()
        # A dead key or session store fails every request: one line per interval, not each.
        self._unavailable_log = ThrottledLog(log, 10.0)

    @classmethod
    def build(cls, ctx: BuildContext) -> AuthenticateStage | None:
        if not ctx.authenticators:
            return None
        return cls(ctx.authenticators, ctx.config.name)

    def wrap(self, next_handler: Chain) -> Chain:
        authenticators = self._authenticators
        sessions = self._sessions
        # Only the first authenticator's: a later one's credential may be claimed before it.
        known: Callable[[Request], Principal | None] | None = (
            getattr(authenticators[0], "known", None) if authenticators else None
        )

        # Not a coroutine: a caller already known is handed on (see tailor.pipeline).
        def authenticate(request: Request) -> Outcome:
            if sessions is not None:
                request.sessions = sessions
            route = request.route
            if route is not None and not route.auth:
                return next_handler(request)
            if known is not None:
                principal = known(request)
                if principal is not None:
                    request.principal = principal
                    return next_handler(request)
            return verify(request)

        async def verify(request: Request) -> Response:
            principal = None
            try:
                for authenticator in authenticators:
                    principal = await authenticator.authenticate(request)
                    if principal is not None:
                        break
            except StaleSession as exc:
                log.info("session refused: %s", exc)
                request.stale_session = True
                return problem_response(
                    401,
                    "the session has ended; log in again",
                    headers=self._clear_cookie,
                    request_id=request.request_id,
                )
            except InvalidCredential as exc:
                log.info("credential refused: %s", exc)
                return problem_response(
                    401,
                    "the credential is not valid",
                    headers=self._invalid,
                    request_id=request.request_id,
                )
            except CrossSiteRequest as exc:
                log.info("cross-site request refused: %s", exc)
                return problem_response(
                    403, "cross-site request refused", request_id=request.request_id
                )
            except CredentialsUnavailable as exc:
                self._unavailable_log.warning(
                    "cannot check credentials now: %s (%r)", exc, exc.__cause__
                )
                return credentials_unavailable(request)
            if principal is None:
                return problem_response(
                    401,
                    "a credential is required",
                    headers=self._challenges,
                    request_id=request.request_id,
                )
            # Outside the try: an exception from further down is not a credential problem.
            request.principal = principal
            return await awaitable(next_handler(request))

        return authenticate
