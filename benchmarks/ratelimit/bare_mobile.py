"""The mobile BFF with only its handlers: every switchable stage off (auth, entitlements,
metrics, rate limit, token exchange, via the config the pipeline-cost script writes), and the
caller fixed to the benchmark user, as authentication would have left it.

    python -m benchmarks.ratelimit.bare_mobile --config bare.json
"""

from __future__ import annotations

import sys

from tailor import BFF, Request, Response
from tailor.auth.principal import Principal
from tailor.serve.run import config_from_env, main
from waveform.bffs.mobile.app import PROFILE, build

USER_ID = "u1"


def create() -> BFF:
    bff = build(config_from_env(PROFILE))
    caller = Principal(USER_ID)
    run_pipeline = bff.handle

    async def handle(request: Request) -> Response:
        request.principal = caller
        return await run_pipeline(request)

    bff.handle = handle  # type: ignore[method-assign]
    return bff


if __name__ == "__main__":
    sys.exit(main("benchmarks.ratelimit.bare_mobile:create", PROFILE))
