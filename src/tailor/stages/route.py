"""Routing: find the endpoint (404/405). Its parameters are checked by the handler stage,
after authentication, so an anonymous caller learns nothing beyond 401."""

from __future__ import annotations

from tailor.http import Request, Response
from tailor.pipeline import BuildContext
from tailor.problem import problem_response
from tailor.routing import Handler, Router


class RouteStage:
    def __init__(self, router: Router) -> None:
        self._router = router

    @classmethod
    def build(cls, ctx: BuildContext) -> RouteStage:
        return cls(ctx.router)

    def wrap(self, next_handler: Handler) -> Handler:
        match = self._router.match

        async def route(request: Request) -> Response:
            found = match(request.method, request.path)
            if found.route is None:
                if found.allowed:
                    return problem_response(
                        405,
                        f"{request.method} is not allowed here",
                        headers=(("allow", ", ".join(found.allowed)),),
                    )
                return problem_response(404, "no such endpoint")
            request.route = found.route
            request.path_params = found.params
            return await next_handler(request)

        return route
