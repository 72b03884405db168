"""tailor with only the handler: the mobile BFF's own home plan and shaping, none of the edge
stages (no auth, entitlements, rate limit, cache, shedding, metrics, token exchange).

It is the floor under the full pipeline: the difference between the two is what the edge
costs. Like the peers, it takes the caller from ``BENCH_USER_ID`` instead of a credential.

    BENCH_UPSTREAM=http://127.0.0.1:8600 python -m granian --interface rsgi \\
        --factory benchmarks.peers.tailor_bare:create --port 8090
"""

from __future__ import annotations

import os

from tailor import BFF, Request, Response, aggregate, build_config
from tailor.auth.principal import Principal
from waveform.bffs.mobile.app import HOME, shape_home

UPSTREAMS = ("users", "stream", "recommendations", "playlists", "catalog")


def create() -> BFF:
    upstream = os.environ["BENCH_UPSTREAM"]
    caller = Principal(os.environ.get("BENCH_USER_ID", "u1"))
    config = build_config(
        {
            "name": "mobile-bare",
            "admin": {"enabled": False},
            "metrics": {"enabled": False},
            "upstreams": dict.fromkeys(UPSTREAMS, upstream),
        }
    )
    bff = BFF(config)

    @bff.get("/v1/home", plan=HOME, auth=False)
    async def home(request: Request) -> Response:
        request.principal = caller
        return await aggregate(request, shape_home, user_id=caller.subject)

    return bff
