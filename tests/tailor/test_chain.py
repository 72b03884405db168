"""The chain's combinators: way-back work applied once, at once to a ready response or after
awaiting one; exceptions mapped whether raised at once or while awaited; cleanup run once."""

from __future__ import annotations

import asyncio

import pytest

from tailor.chain import Outcome, ensure, rescue, then
from tailor.http import Request, Response


def request() -> Request:
    return Request("GET", "/x", "", {}, "127.0.0.1")


def stamp(response: Response, value: str) -> Response:
    response.headers.append(("x-stamp", value))
    return response


async def later(response: Response) -> Response:
    await asyncio.sleep(0)
    return response


def test_then_finishes_a_ready_response_without_a_coroutine() -> None:
    finished = then(Response(204), stamp, "now")
    assert isinstance(finished, Response)
    assert finished.headers == [("x-stamp", "now")]


async def test_then_finishes_an_awaited_response_once_it_arrives() -> None:
    pending = then(later(Response(200)), stamp, "later")
    assert not isinstance(pending, Response)
    assert (await pending).headers == [("x-stamp", "later")]


async def test_then_awaits_a_finish_that_itself_has_to_wait() -> None:
    def replace_later(response: Response, status: int) -> Outcome:
        return later(Response(status))

    assert (await then(later(Response(401)), replace_later, 429)).status == 429  # type: ignore[misc]


def mapped(exc: Exception, req: Request) -> Response:
    return Response(599, str(exc).encode())


def test_rescue_maps_an_exception_raised_at_once() -> None:
    def raising(req: Request) -> Outcome:
        raise ValueError("at once")

    answered = rescue(mapped, raising, request())
    assert isinstance(answered, Response)
    assert (answered.status, answered.body) == (599, b"at once")


async def test_rescue_maps_an_exception_raised_while_awaited() -> None:
    async def raising(req: Request) -> Response:
        await asyncio.sleep(0)
        raise ValueError("awaited")

    answered = await rescue(mapped, raising, request())  # type: ignore[misc]
    assert (answered.status, answered.body) == (599, b"awaited")


async def test_rescue_lets_an_exception_its_handler_reraises_go_on_up() -> None:
    def not_mine(exc: Exception, req: Request) -> Outcome:
        raise exc

    async def raising(req: Request) -> Response:
        raise KeyError("not mapped")

    with pytest.raises(KeyError):
        await rescue(not_mine, raising, request())  # type: ignore[misc]


def test_ensure_cleans_up_at_once_after_a_ready_response() -> None:
    cleaned: list[str] = []
    answered = ensure(lambda req: Response(204), request(), cleaned.append, "slot")
    assert isinstance(answered, Response)
    assert cleaned == ["slot"]


def test_ensure_cleans_up_once_when_the_chain_raises_at_once() -> None:
    cleaned: list[str] = []

    def raising(req: Request) -> Outcome:
        raise ValueError

    with pytest.raises(ValueError):
        ensure(raising, request(), cleaned.append, "slot")
    assert cleaned == ["slot"]


async def test_ensure_cleans_up_only_once_the_awaited_answer_is_final() -> None:
    cleaned: list[str] = []
    pending = ensure(lambda req: later(Response(200)), request(), cleaned.append, "slot")
    assert cleaned == []
    await pending  # type: ignore[misc]
    assert cleaned == ["slot"]


async def test_ensure_cleans_up_once_when_the_awaiting_task_is_cancelled() -> None:
    cleaned: list[str] = []
    started = asyncio.Event()

    async def forever(req: Request) -> Response:
        started.set()
        await asyncio.Event().wait()
        raise AssertionError("never answered")

    task = asyncio.ensure_future(ensure(forever, request(), cleaned.append, "slot"))  # type: ignore[arg-type]
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cleaned == ["slot"]
