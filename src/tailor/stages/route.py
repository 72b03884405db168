"""Routing: find the endpoint (404/405), check path parameters and declared query
parameters (400 naming the parameter)."""

from __future__ import annotations

from tailor.http import Request, Response
from tailor.params import check_path_param, parse_query
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
            for name, value in found.params.items():
                check_path_param(name, value)
            request.path_params = found.params
            if found.route.query:
                request.state["query"] = parse_query(found.route.query, request.query)
            return await next_handler(request)

        return route
