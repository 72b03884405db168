"""Entitlements: the caller's app must be active, allowed on this BFF and entitled to the route.

Runs right after authentication. The app comes from the registry by ``principal.client_id``
(cached a few seconds) and is left in ``request.app`` for the stages after it (the
rate limiter reads its ``tier``). This is what lets a narrow integration reach a few routes of
an existing BFF instead of getting a BFF of its own.

    active app, route listed (or "*")     -> continue
    suspended, unknown, not on this BFF   -> 403
    route outside the app's entitlements  -> 403
    registry unreachable                  -> 503 (on_unavailable = "closed", the default)
                                             or continue without an app ("open"), logged

Every 403 has the same body, so a caller cannot probe which of the reasons applied.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING
from urllib.parse import quote

from tailor.auth.apps import App, AppRegistry, RegistryUnavailable
from tailor.chain import Chain, Outcome, awaitable
from tailor.http import Request, Response
from tailor.problem import problem_response

if TYPE_CHECKING:
    from tailor.pipeline import BuildContext

log = logging.getLogger("tailor.entitle")

_CLIENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


class EntitleStage:
    """The caller's app against this BFF's route (see the module docstring). An illustration
    (its registry fetches from the app registry service, so it is not a doctest)::

        stage = EntitleStage(AppRegistry(fetch), bff="mobile", fail_open=False)
        link = stage.wrap(next_handler)  # 403, 503, or next_handler with request.app set
    """

    name = "entitle"

    def __init__(self, registry: AppRegistry, *, bff: str, fail_open: bool) -> None:
        self._registry = registry
        self._bff = bff
        self._fail_open = fail_open

    @classmethod
    def build(cls, ctx: BuildContext) -> EntitleStage | None:
        cfg = ctx.config.entitlements
        if not cfg.enabled:
            return None
        client = ctx.client
        upstream, template = cfg.registry_upstream, cfg.registry_path

        async def fetch(client_id: str) -> tuple[int, bytes]:
            path = template.format(client_id=quote(client_id, safe=""))
            response = await client.request(upstream, path, timeout_s=1.0)
            return response.status, response.body

        registry = AppRegistry(fetch, ttl_s=cfg.cache_ttl_s)
        return cls(registry, bff=cfg.bff or ctx.config.name, fail_open=cfg.on_unavailable == "open")

    def wrap(self, next_handler: Chain) -> Chain:
        registry, bff = self._registry, self._bff

        # Not a coroutine: a caller whose app is cached is handed on (see tailor.pipeline).
        def entitle(request: Request) -> Outcome:
            principal = request.principal
            route = request.route
            if principal is None or route is None:  # an anonymous route: nothing to check
                return next_handler(request)
            # A fresh cached app is answered at once (its id passed the checks of _look_up
            # when it was first looked up); anything else is looked up.
            app = registry.known(principal.client_id)
            if app is None:
                return look_up(request)
            if not _permitted(app, bff, route.method, route.template):
                return _refuse(request)
            request.app = app
            return next_handler(request)

        async def look_up(request: Request) -> Response:
            assert request.route is not None
            found = await self._look_up(request, next_handler)
            if isinstance(found, Response):
                return found
            if not _permitted(found, bff, request.route.method, request.route.template):
                return _refuse(request)
            request.app = found
            return await awaitable(next_handler(request))

        return entitle

    async def _look_up(self, request: Request, next_handler: Chain) -> App | Response | None:
        """The caller's app from the registry, or the answer to give instead: 403 for an id
        that cannot name an app, 503 (or, failing open, the request served without an app)
        when the registry cannot be asked."""
        client_id = _app_id(request)
        if not _CLIENT_ID.fullmatch(client_id):
            log.info("refused: the credential names no usable app")
            return _forbidden(request)
        try:
            return await self._registry.get(client_id)
        except RegistryUnavailable:
            if self._fail_open:
                log.warning("app registry unavailable: letting %s through", client_id)
                return await awaitable(next_handler(request))
            log.warning("app registry unavailable: refusing %s", client_id, exc_info=True)
            return problem_response(
                503,
                "entitlements cannot be checked now",
                headers=(("retry-after", "1"),),
                request_id=request.request_id,
            )


def _app_id(request: Request) -> str:
    assert request.principal is not None
    return request.principal.client_id


def _refuse(request: Request) -> Response:
    assert request.route is not None
    log.info("refused %s for %s %s", _app_id(request), request.method, request.route.template)
    return _forbidden(request)


def _permitted(app: App | None, bff: str, method: str, template: str) -> bool:
    return app is not None and app.active and app.allows(bff, method, template)


def _forbidden(request: Request) -> Response:
    return problem_response(
        403, "this app may not call this endpoint", request_id=request.request_id
    )
