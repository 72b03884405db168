"""Routing: find the endpoint (404/405). Its parameters are checked by the handler stage,
after authentication, so an anonymous caller learns nothing beyond 401."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tailor.chain import Chain, Outcome
from tailor.http import Request, Response
from tailor.problem import problem_response
from tailor.routing import Router

if TYPE_CHECKING:
    from tailor.pipeline import BuildContext


class RouteStage:
    name = "route"

    def __init__(self, router: Router) -> None:
        self._router = router

    @classmethod
    def build(cls, ctx: BuildContext) -> RouteStage:
        return cls(ctx.router)

    def wrap(self, next_handler: Chain) -> Chain:
        static = self._router.static
        match = self._router.match

        # Not a coroutine (see tailor.pipeline).
        def route(request: Request) -> Outcome:
            # A path without parameters is two dict lookups; the rest goes to the router.
            by_method = static.get(request.path)
            found = by_method.get(request.method) if by_method is not None else None
            if found is None:
                matched = match(request.method, request.path)
                if matched.route is None:
                    return _refusal(request.method, matched.allowed)
                found = matched.route
                request.path_params = matched.params
            request.route = found
            return next_handler(request)

        return route


def _refusal(method: str, allowed: tuple[str, ...]) -> Response:
    if allowed:
        return problem_response(
            405, f"{method} is not allowed here", headers=(("allow", ", ".join(allowed)),)
        )
    return problem_response(404, "no such endpoint")
