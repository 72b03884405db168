"""The route table: method + path template -> handler, with the route's edge settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any

import msgspec

from tailor.cache.policy import CachePolicy
from tailor.chain import Handler
from tailor.params import QuerySpec

if TYPE_CHECKING:
    from tailor.aggregate.plan import Plan


class Infer(Enum):
    """A route whose response type is read from its handler's return annotation."""

    INFER = "infer"


INFER = Infer.INFER


@dataclass(frozen=True, slots=True)
class Route:
    """One endpoint. ``template`` is the metrics label, never the raw path (bounded cardinality)."""

    method: str
    template: str
    handler: Handler
    auth: bool = True
    query: QuerySpec = field(default_factory=dict)
    cache: CachePolicy | None = None  # None: never cached at the edge
    plan: Plan | None = None  # what aggregate() runs for this route
    #: What the route documents (tailor.openapi): the body type it answers (INFER: read it
    #: from the handler's ``-> Json[Body]``; None: 204, no body), the body type it reads,
    #: the upstreams it calls beyond its plan, and problem statuses its handler raises itself.
    response: Any = INFER
    body: Any = None
    uses: tuple[str, ...] = ()
    problems: tuple[int, ...] = ()
    #: The status of its success answer, as documented (201 for a command that creates).
    status: int = 200
    #: In the OpenAPI document: False for a route that is not request-response (a live
    #: endpoint taking the connection over: docs/live.md documents those).
    documented: bool = True
    #: The template split once, here: the router compares it on every templated request.
    segments: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "segments", tuple(self.template.strip("/").split("/")))


class Match(msgspec.Struct, gc=False):
    """What :meth:`Router.match` found: the route and its path parameters, or (no route) the
    methods the path allows, empty when no route has the path. Built in C: one per request."""

    route: Route | None
    params: dict[str, str]
    allowed: tuple[str, ...] = ()


_NO_MATCH = Match(None, {})


class Router:
    """Static paths resolve with one dict lookup; templated ones by segment comparison."""

    def __init__(self) -> None:
        self._static: dict[str, dict[str, Route]] = {}
        self._dynamic: list[Route] = []

    def add(self, route: Route) -> None:
        if "{" in route.template:
            self._dynamic.append(route)
        else:
            by_method = self._static.setdefault(route.template, {})
            by_method[route.method] = route
            if route.method == "GET":  # RFC 9110 s9.3.2: a GET route answers HEAD too
                by_method.setdefault("HEAD", route)

    @property
    def routes(self) -> list[Route]:
        # A GET route is listed once, not again under the HEAD it also answers.
        static = [r for by in self._static.values() for m, r in by.items() if r.method == m]
        return static + list(self._dynamic)

    def match(self, method: str, path: str) -> Match:
        """The route for ``method`` and ``path``: a path without parameters is two dict
        lookups; a templated one is compared segment by segment."""
        by_method = self._static.get(path)
        if by_method is not None:
            route = by_method.get(method)
            if route is not None:
                return Match(route, {})
            return Match(None, {}, tuple(sorted(by_method)))
        parts = path.strip("/").split("/")
        allowed: list[str] = []
        for route in self._dynamic:
            params = _match_segments(route.segments, parts)
            if params is None:
                continue
            if route.method == method or (method == "HEAD" and route.method == "GET"):
                return Match(route, params)
            allowed.append(route.method)
            if route.method == "GET":
                allowed.append("HEAD")
        if allowed:
            return Match(None, {}, tuple(sorted(allowed)))
        return _NO_MATCH


def _match_segments(template: tuple[str, ...], parts: list[str]) -> dict[str, str] | None:
    if len(template) != len(parts):
        return None
    params: dict[str, str] = {}
    for expected, actual in zip(template, parts, strict=True):
        if expected.startswith("{"):
            if not actual:
                return None
            params[expected[1:-1]] = actual
        elif expected != actual:
            return None
    return params
