"""Per-user write limits on commands: the rate-limit stage's ``write`` class charges the
commands of a user (RateLimit headers on each), refuses the one over with 429, and leaves
that user's reads and other users' writes alone."""

from __future__ import annotations

from commands_helpers import Commands, send
from harness import assert_problem

from tailor import BFF

WRITES = {"user-write": {"key": "user", "limit": 2, "window_s": 60, "classes": ["write"]}}


def limited(make_bff) -> BFF:
    bff: BFF = make_bff({"rate_limit": {"policies": WRITES}, "commands": {"idempotency": {}}})
    Commands(bff)
    return bff


async def test_each_command_carries_the_users_write_quota(make_bff) -> None:
    bff = limited(make_bff)
    first = await send(bff, key="a")
    assert first.header("ratelimit-policy") == '"user-write";q=2;w=60'
    assert first.header("ratelimit") == '"user-write";r=1;t=30'


async def test_the_command_over_the_users_write_quota_is_429(make_bff) -> None:
    bff = limited(make_bff)
    assert [(await send(bff, key=k)).status for k in "ab"] == [201, 201]
    refused = await send(bff, key="c")
    assert_problem(refused, 429)
    assert refused.header("retry-after") is not None
    assert (await send(bff, key="d", user="u2")).status == 201  # another user's own quota
