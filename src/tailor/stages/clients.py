"""Client identification, deprecation and per-version workarounds (``clients``).

Right after routing, before anyone is asked for a credential: the client's app, platform and
version are read once (``request.client_info``, :mod:`tailor.clients.identity`) and the call is
counted for its route (:mod:`tailor.clients.usage`). Then, only on the routes and for the
clients configuration names:

    a deprecated route past its sunset                  -> 410 + Deprecation, Sunset, Link
    a deprecated route                                  -> its answer + the same headers
    a client matching workaround rules for this route   -> their request transforms, then
                                                           their response transforms (2xx)

A deprecated route's headers are the same for every answer of it, so they are added where
the endpoint answers (``BuildContext.route_headers``, by the handler stage): the edge cache
keeps them with the entry and a hit carries them at no cost.

Before authentication, like a 404: a retired route is gone for everyone, and a version gate
a BFF adds after this stage (waveform's 426) can answer an app too old to log in. Off (not in
the chain) unless the config has a ``clients`` table.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING

from tailor.chain import Chain, Outcome, then
from tailor.clients.deprecation import Deprecation
from tailor.clients.identity import UNKNOWN, ClientSettings, Identifier
from tailor.clients.usage import ClientUsage, RouteUsage
from tailor.clients.workarounds import CompiledRule, compile_clients
from tailor.http import Request, Response

if TYPE_CHECKING:
    from tailor.pipeline import BuildContext


class _RouteClients:
    """What the stage knows about one route, found once at startup."""

    __slots__ = ("counts", "deprecation", "gone_from", "template", "usage")

    def __init__(self, template: str, usage: RouteUsage, deprecation: Deprecation | None) -> None:
        self.template = template
        self.usage = usage
        self.counts = usage.counts  # read on every request
        self.deprecation = deprecation
        sunset_at = deprecation.sunset_at if deprecation is not None else None
        #: The sunset on the clock requests are stamped with (``Request.received_at``, the
        #: monotonic ``perf_counter``): compared per request at no cost, where reading the
        #: wall clock would be a system call on some machines. Set once, at startup: the
        #: monotonic clock does not follow a step of the wall clock later on.
        self.gone_from = (
            math.inf if sunset_at is None else time.perf_counter() + (sunset_at - time.time())
        )


class ClientsStage:
    """Identifies the client, counts it per route, deprecates and works around.

    >>> ClientsStage.name
    'clients'
    """

    name = "clients"

    def __init__(
        self, settings: ClientSettings, default_app: str, routes: dict[str, _RouteClients],
        rules: tuple[CompiledRule, ...],
    ) -> None:  # fmt: skip
        self._settings = settings
        self._routes = routes
        self.identifier = Identifier(settings, default_app, rules)

    @classmethod
    def build(cls, ctx: BuildContext) -> ClientsStage | None:
        settings = ctx.config.clients
        if settings is None:
            return None
        templates = {route.template for route in ctx.router.routes}
        rules = compile_clients(
            settings.deprecations, settings.workarounds, ctx.transforms, templates
        )
        usage = ClientUsage(settings.top_versions, settings.deprecations)
        ctx.metrics.registry.register(usage)
        for template, deprecation in settings.deprecations.items():
            ctx.route_headers[template] = deprecation.headers()
        routes = {
            t: _RouteClients(t, usage.route(t), settings.deprecations.get(t)) for t in templates
        }
        return cls(settings, ctx.config.name, routes, rules)

    def wrap(self, next_handler: Chain) -> Chain:
        header = "user-agent" if self._settings.source == "user-agent" else self._settings.header
        header = header.lower()
        known = self.identifier.known
        identify = self.identifier.identify
        routes = self._routes

        def clients(request: Request) -> Outcome:
            text = request.headers.get(header)
            info = UNKNOWN if text is None else known.get(text) or identify(text)
            request.client_info = info
            assert request.route is not None  # below the route stage
            at = routes[request.route.template]
            counts = at.counts
            seen = counts.get(info)
            if seen is None:
                at.usage.first(info)
            else:
                counts[info] = seen + 1
            if request.received_at >= at.gone_from:
                assert at.deprecation is not None
                return at.deprecation.gone(at.template, request.request_id)
            if info.rules:
                rules = [r for r in info.rules if r.applies_to(at.template)]
                if rules:
                    for rule in rules:
                        if rule.transform.request is not None:
                            rule.transform.request(request)
                        if rule.transform.response is not None:
                            # A response transform reads and rewrites the body: it must get the
                            # identity coding from the cache and compress stages below.
                            request.headers.pop("accept-encoding", None)
                    return then(next_handler(request), _worked_around, (request, rules))
            return next_handler(request)

        return clients


def _worked_around(response: Response, state: tuple[Request, list[CompiledRule]]) -> Response:
    request, rules = state
    if 200 <= response.status < 300 and any(r.transform.response for r in rules):
        for rule in rules:
            if rule.transform.response is not None:
                response = rule.transform.response(response, request)
        # The cache's ETag names the body before the change: a client holding the changed one
        # must not be told 304 for a body it does not have, nor the other way round.
        response.headers = [(k, v) for k, v in response.headers if k != "etag"]
    return response
