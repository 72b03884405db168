"""The BFF object: its chain and background jobs, built and started on demand."""

from __future__ import annotations

import asyncio

import pytest

import tailor.app
from tailor import BFF, Request, Response, build_config
from tailor.errors import ConfigError
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


def _bff_with_a_route(requires_auth: bool, **config: object) -> BFF:
    bff = BFF(build_config({"name": "test", "admin": {"enabled": False}, **config}))

    @bff.get("/v1/me", auth=requires_auth)
    async def me(request: Request) -> Response:
        return Response(200, b"me")

    return bff


def test_a_route_requiring_authentication_without_an_authenticator_fails_startup_naming_it() -> (
    None
):
    with pytest.raises(ConfigError, match="route GET /v1/me requires authentication") as caught:
        _bff_with_a_route(True).startup(admin=False)
    assert caught.value.key == "auth"


def test_a_route_with_auth_false_starts_without_an_authenticator() -> None:
    bff = _bff_with_a_route(False)
    bff.startup(admin=False)
    assert "authenticate" not in bff.stages


def test_a_bff_that_says_auth_anonymous_serves_a_route_requiring_authentication_to_anyone() -> None:
    bff = _bff_with_a_route(True, auth={"anonymous": True})

    async def call() -> int:
        try:
            response = await bff.handle(Request("GET", "/v1/me", "", {"host": "t"}, "127.0.0.1"))
            return response.status
        finally:
            await bff.shutdown()

    assert asyncio.run(call()) == 200
