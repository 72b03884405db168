"""The endpoint itself, the innermost stage: check its declared parameters (400 naming the
parameter), then call it, adding the headers its route's answers carry (``route_headers``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tailor.aggregate.engine import Engine
from tailor.chain import Chain, Outcome, then
from tailor.http import Request, Response
from tailor.params import check_path_param, parse_query
from tailor.upstream.client import UpstreamClient

if TYPE_CHECKING:
    from tailor.pipeline import BuildContext


class HandlerStage:
    name = "handler"

    def __init__(
        self,
        client: UpstreamClient,
        engine: Engine,
        route_headers: dict[str, tuple[tuple[str, str], ...]] | None = None,
    ) -> None:
        self._client = client
        self._engine = engine
        self._route_headers = route_headers or {}

    @classmethod
    def build(cls, ctx: BuildContext) -> HandlerStage:
        return cls(ctx.client, Engine(ctx.client, ctx.resilience), ctx.route_headers)

    def wrap(self, next_handler: Chain) -> Chain:
        client = self._client
        engine = self._engine
        route_headers = self._route_headers

        # Not a coroutine: a parameter refused (400) is raised here, before any coroutine;
        # the endpoint's own coroutine is what the stages above await.
        def handle(request: Request) -> Outcome:
            request.upstreams = client
            request.engine = engine
            route = request.route
            assert route is not None, "the route stage runs first"
            for name, value in request.path_params.items():
                check_path_param(name, value)
            if route.query:
                request.parsed_query = parse_query(route.query, request.query)
            if route_headers and route.template in route_headers:
                return then(route.handler(request), _with, route_headers[route.template])
            return route.handler(request)

        return handle


def _with(response: Response, headers: tuple[tuple[str, str], ...]) -> Response:
    response.headers.extend(headers)
    return response
