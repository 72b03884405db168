"""A stage of your own: ``Server-Timing`` on every answer, placed right after request_id.

    python custom_stage.py      # then: curl -si http://127.0.0.1:8092/hello | grep -i timing

A stage is a class with a ``name``, a ``build(ctx)`` that reads its settings (or returns
None to stay out of the chain) and a ``wrap(next_handler)`` that returns the link: a plain
function that hands the request on and finishes the answer on the way back with
:func:`tailor.chain.then`. docs/extending.md walks through it.
"""

from __future__ import annotations

import sys
import time
from typing import Annotated

import msgspec

from tailor import BFF, Config, Request, Response, json_response
from tailor.chain import Chain, Outcome, then
from tailor.pipeline import BuildContext
from tailor.serve.run import config_from_env, main

PROFILE = {
    "name": "timed",
    "listen": {"port": 8092},
    "admin": {"enabled": False},
    # The stage's own settings: validated against ServerTimingSettings at startup.
    "stages": {"server_timing": {"metric": "edge"}},
}


class ServerTimingSettings(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """``stages.server_timing``: the metric name clients see (an HTTP token)."""

    metric: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_-]{1,32}$")] = "edge"
    #: Off: the stage is left out of the chain (build returns None), costing nothing.
    enabled: bool = True


class ServerTimingStage:
    name = "server_timing"

    def __init__(self, metric: str) -> None:
        self._metric = metric

    @classmethod
    def build(cls, ctx: BuildContext) -> ServerTimingStage | None:
        settings = ctx.stage_settings(cls.name, ServerTimingSettings)
        return cls(settings.metric) if settings.enabled else None

    def wrap(self, next_handler: Chain) -> Chain:
        metric = self._metric
        clock = time.perf_counter

        def server_timing(request: Request) -> Outcome:
            # then() applies _stamp at once to an answer found without waiting (a refusal, a
            # cache hit), or after awaiting one; the function and its argument are passed
            # as they are, so no closure is made per request.
            return then(next_handler(request), _stamp, (metric, clock()))

        return server_timing


def _stamp(response: Response, timing: tuple[str, float]) -> Response:
    metric, started = timing
    elapsed_ms = (time.perf_counter() - started) * 1000
    response.headers.append(("server-timing", f"{metric};dur={elapsed_ms:.1f}"))
    return response


def create(config: Config | None = None) -> BFF:
    """What each server worker calls (``config``: the profile with the --config file merged
    over it); a test passes its own."""
    bff = BFF(config or config_from_env(PROFILE))
    bff.add_stage(ServerTimingStage, after="request_id")

    @bff.get("/hello", auth=False)
    async def hello(request: Request) -> Response:
        return json_response({"hello": "world"})

    return bff


if __name__ == "__main__":
    sys.exit(main("custom_stage:create", PROFILE))
