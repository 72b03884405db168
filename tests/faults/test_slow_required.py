"""A slow but answering required service: the mobile home's ``me`` part takes the endpoint's
remaining budget rather than a fixed short timeout, so 300 ms of extra latency on the users
service (which ``me`` and ``people`` both call) still gives the complete home inside its
deadline (issue 19, item 7)."""

from __future__ import annotations

import pytest
from faultproxy import Fault
from faultworld import DEADLINE_S
from test_scenarios import report

pytestmark = pytest.mark.users_catalog

EXTRA_LATENCY_S = 0.3


async def test_300_ms_of_extra_latency_on_users_still_gives_the_complete_home_in_time(
    make_world,
) -> None:
    world = await make_world()
    world.proxies["users"].set(Fault("latency", delay_s=EXTRA_LATENCY_S))
    for user in ("u1", "u2", "u3", "u1", "u2", "u3"):
        seen = await world.home(user)
        assert seen.status == 200 and "tailor-degraded" not in seen.headers, seen
        assert seen.verdict == "correct"  # byte for byte the healthy home
        assert seen.elapsed_s < DEADLINE_S
    world.assert_all_acceptable()
    report(
        "slow_required",
        extra_latency_ms=round(EXTRA_LATENCY_S * 1000),
        responses=len(world.seen),
        verdicts=world.verdicts(),
        max_ms=round(max(s.elapsed_s for s in world.seen) * 1000),
    )
