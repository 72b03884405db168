"""The BFF object: its chain and background jobs, built and started on demand."""

from __future__ import annotations

import asyncio

import pytest

import tailor.app
from tailor import BFF, Request, build_config
from tailor.pipeline import BuildContext


def test_background_jobs_wait_for_a_loop_and_start_with_the_first_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def job() -> None:
        await asyncio.Event().wait()  # a long-running job, cancelled at shutdown

    real_build_chain = tailor.app.build_chain

    def build_chain_with_a_job(ctx: BuildContext, *added):  # type: ignore[no-untyped-def]
        ctx.background.append(job)
        return real_build_chain(ctx, *added)

    monkeypatch.setattr(tailor.app, "build_chain", build_chain_with_a_job)
    bff = BFF(build_config({"name": "test", "admin": {"enabled": False}}))
    bff.startup(admin=False)  # no loop runs here: the job cannot start yet
    assert bff._tasks == []

    async def first_request() -> int:
        try:
            await bff.handle(Request("GET", "/nowhere", "", {"host": "bff.test"}, "127.0.0.1"))
            return len(bff._tasks)
        finally:
            await bff.shutdown()

    assert asyncio.run(first_request()) == 1
