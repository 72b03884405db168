"""Which RFC 9457 problems an operation can answer, from the route and the BFF's config.

Each stage of the one stage order (:mod:`tailor.pipeline`) answers some statuses, and only
when its config puts it in the chain; this module says which apply to a route, so the
document lists every status a client can meet on it and no other:

    400  a malformed request (any route: tailor's server refuses  (server; handler;
         ambiguous framing), a parameter or the body              added stages)
    401  the route needs a credential                             (authenticate)
    403  the caller's app is not allowed here; CSRF or Origin     (entitle; authenticate)
    404  no such resource: a path parameter, or a plan's 404      (handler)
    408  413  the body came too slowly or is too large            (limits)
    429  a rate limit or the failed-authentication quota          (ratelimit; authguard)
    502  503  504  an upstream failed, its circuit is open, or it timed out; shedding (503)

A stage a BFF adds declares what it answers as a class attribute ``problems`` (a tuple of
statuses, such as ``(400, 426)``); a handler's own refusals are the route's ``problems=``.
What the server answers before a request is routed (431 for oversized headers, 408 for headers
that never finish) concerns the connection, not an operation, and is left out.
"""

from __future__ import annotations

from collections.abc import Iterable
from http import HTTPStatus

from tailor.auth.factory import upstreams_used
from tailor.config import Config
from tailor.routing import Route

DESCRIPTIONS = {
    400: "the request is malformed (the problem names the parameter, when one is at fault)",
    401: "no credential, or one that is not valid",
    403: "the caller may not call this route (its app is not allowed, or a cross-site request)",
    404: "no such resource, or one the caller may not see",
    408: "the body did not arrive in time",
    413: "the body is too large",
    415: "the body is not in a media type this route reads",
    426: "this version of the client is no longer served: update it",
    429: "too many requests (see Retry-After)",
    502: "an upstream service failed",
    503: "an upstream service is unavailable, or the BFF is overloaded (see Retry-After)",
    504: "an upstream service did not answer in time",
}


def describe(status: int) -> str:
    return DESCRIPTIONS.get(status) or HTTPStatus(status).phrase


def route_problems(route: Route, config: Config, stage_problems: Iterable[int] = ()) -> list[int]:
    """The problem statuses ``route`` can answer under ``config``, sorted; ``stage_problems``
    are those of the stages the BFF added."""
    statuses: set[int] = {400, *route.problems, *stage_problems}
    calls_upstream = route.plan is not None or bool(route.uses)
    if route.auth and config.auth.configured():
        statuses.add(401)
        if config.entitlements.enabled or config.auth.session is not None:
            statuses.add(403)
        if upstreams_used(config):
            statuses.add(503)  # a credential checked by an upstream that cannot answer
    if "{" in route.template or route.plan is not None:
        statuses.add(404)  # an upstream's 404 stays a 404
    if route.body is not None:
        statuses.update((408, 413))
    limits = config.rate_limit
    if limits.enabled and (limits.policies or limits.auth_failures is not None):
        statuses.add(429)
    if calls_upstream:
        statuses.update((502, 503, 504))
    if config.resilience.shed.enabled:
        statuses.add(503)
    return sorted(statuses)
