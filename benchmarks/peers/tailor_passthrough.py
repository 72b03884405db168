"""tailor relaying one upstream GET: ``GET /v1/users/{id}`` as a one-Part plan whose value is
the raw upstream body (``msgspec.Raw``: not decoded, not re-encoded), answered as it came.

The single pass-through scenario compares this with Node fastify + undici and nginx
``proxy_pass``. Like ``tailor_bare``, no edge stage runs (no auth, metrics, cache): it measures
tailor's server, routing, plan engine and upstream client for one hop.

    BENCH_UPSTREAM=http://127.0.0.1:8600 python -m granian --interface rsgi \\
        --factory benchmarks.peers.tailor_passthrough:create --port 8090
"""

from __future__ import annotations

import os

import msgspec

from tailor import BFF, Request, Response, build_config
from tailor.aggregate.plan import Part, Plan
from tailor.http import JSON_CONTENT_TYPE

USER = Plan(parts=(Part("user", "users", "/users/{id}", into=msgspec.Raw),), deadline_s=1.0)


def create() -> BFF:
    config = build_config(
        {
            "name": "passthrough",
            "admin": {"enabled": False},
            "metrics": {"enabled": False},
            "upstreams": {"users": os.environ["BENCH_UPSTREAM"]},
        }
    )
    bff = BFF(config)

    @bff.get("/v1/users/{id}", plan=USER, auth=False)
    async def user(request: Request) -> Response:
        assert request.engine is not None
        outcome = await request.engine.run(
            USER,
            {"id": request.path_params["id"]},
            request_id=request.request_id,
        )
        return Response(200, bytes(outcome["user"]), [JSON_CONTENT_TYPE])

    return bff
