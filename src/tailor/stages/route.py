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
        match = self._router.match

        def route(request: Request) -> Outcome:
            matched = match(request.method, request.path)
            found = matched.route
            if found is None:
                return _refusal(request, matched.allowed)
            request.route = found
            if matched.params:
                request.path_params = matched.params
            return next_handler(request)

        return route


def _refusal(request: Request, allowed: tuple[str, ...]) -> Response:
    if allowed:
        return problem_response(
            405,
            f"{request.method} is not allowed here",
            headers=(("allow", ", ".join(allowed)),),
            request_id=request.request_id,
        )
    return problem_response(404, "no such endpoint", request_id=request.request_id)
