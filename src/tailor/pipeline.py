"""The stage order, in one place.

Requests flow down this list; responses flow back up. Each stage continues or answers locally.
A stage whose ``build`` returns ``None`` (switched off by config) is left out of the chain when
it is built, never checked per request.

    observe       metrics for every answer                      (outermost: counts all)
    request_id    X-Request-Id in, out and inward
    errors        exceptions below -> problem+json              (500/502/504, never a trace)
    limits        header size, body size, receive deadline      -> 431 / 413 / 408
    sanitize      drop internal, hop-by-hop, forwarded headers
    route         endpoint lookup                               -> 404 / 405
    authenticate  bearer JWT against the issuer's JWKS          -> 401
    handler       parameters, then the endpoint (aggregation)  -> 400
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tailor.config import Config
from tailor.observe.metrics import Metrics
from tailor.routing import Handler, Router
from tailor.upstream.client import UpstreamClient

if TYPE_CHECKING:
    from tailor.auth.jwt import JWTVerifier


@dataclass
class BuildContext:
    """Everything a stage may need to build itself."""

    config: Config
    router: Router
    client: UpstreamClient
    metrics: Metrics
    verifier: JWTVerifier | None


def stage_order() -> Sequence[Any]:
    # Imported here: each stage module imports BuildContext from this one.
    from tailor.stages.authenticate import AuthenticateStage
    from tailor.stages.errors import ErrorStage
    from tailor.stages.handler import HandlerStage
    from tailor.stages.limits import LimitsStage
    from tailor.stages.observe import ObserveStage
    from tailor.stages.request_id import RequestIdStage
    from tailor.stages.route import RouteStage
    from tailor.stages.sanitize import SanitizeStage

    return (
        ObserveStage,
        RequestIdStage,
        ErrorStage,
        LimitsStage,
        SanitizeStage,
        RouteStage,
        AuthenticateStage,
        HandlerStage,
    )


def build_chain(ctx: BuildContext) -> tuple[Handler, list[str]]:
    """Stack the enabled stages around the handler. Returns the chain and the stage names in
    order (for logs and docs)."""
    stages = [s for s in (factory.build(ctx) for factory in stage_order()) if s is not None]

    async def unreachable(request: Any) -> Any:  # the handler stage never calls next
        raise RuntimeError("the handler stage must be last")

    chain: Handler = unreachable
    for stage in reversed(stages):
        chain = stage.wrap(chain)
    return chain, [type(s).__name__ for s in stages]
