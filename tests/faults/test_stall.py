"""The BFF's event loop frozen past the deadline while the required part is in flight, as a
SIGSTOP, a long pause or a blocking call would freeze it (issue 19's reproduction: users
slowed by 200 ms, 20 concurrent homes, the BFF frozen for 1.2 s). The services keep running on
their own loop meanwhile, so on resume the answers, the part timeouts and the deadline timers
are all ready at once. Every home must still be correct, a marked partial or a 504 problem:
never a 500 from a part missing in the outcome."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import pytest
from faultproxy import Fault
from test_scenarios import report

pytestmark = pytest.mark.users_catalog

HOMES = 21
FREEZE_S = 1.2


def _freeze_the_loop() -> None:
    time.sleep(FREEZE_S)  # blocks the BFF's own loop, as SIGSTOP would stop its process


@pytest.mark.parametrize(
    "slow_users_s",
    [
        0.2,  # the setup: me answers during the freeze
        2.0,  # me still in flight when the loop resumes, its timeout due with the deadline
    ],
)
async def test_a_bff_frozen_past_the_deadline_answers_every_home_right_or_with_a_504(
    make_world, slow_users_s: float
) -> None:
    world = await make_world()
    users = world.proxies["users"]
    users.set(Fault("latency", delay_s=slow_users_s))
    users.reset_counts()
    homes = [asyncio.ensure_future(world.home(("u1", "u2", "u3")[n % 3])) for n in range(HOMES)]
    # Until every home's me call has reached the slowed service. The count lives on the
    # proxy's loop, in another thread, with nothing to await on this one: polled, bounded.
    async with asyncio.timeout(5):
        while users.attempts < HOMES:  # noqa: ASYNC110
            await asyncio.sleep(0.001)
    _freeze_the_loop()
    seen = await asyncio.gather(*homes)
    statuses = dict(Counter(s.status for s in seen))
    assert set(statuses) <= {200, 504}, statuses
    assert all(s.verdict in ("correct", "partial", "error") for s in seen), world.verdicts()
    report(
        "frozen_loop",
        homes=HOMES,
        slow_users_ms=round(slow_users_s * 1000),
        freeze_ms=round(FREEZE_S * 1000),
        statuses=statuses,
        verdicts=world.verdicts(),
    )
