"""The chain's types, the one shape of a stage, and the combinators every stage finishes with.

A link of the chain is a plain function, not a coroutine function: it returns the
:class:`~tailor.http.Response` itself when it has it now (a refusal, a cache hit), or an
awaitable of it when something below has to wait (the handler's upstream calls). Work on the
way back is written once, as a plain function, and applied by one of the combinators below to
whichever came back: at once to a ready response, or after awaiting in a small coroutine of
the combinator's. So a request answered without waiting runs no coroutine at all.

    then(outcome, finish, arg)           finish(response, arg) on the way back
    rescue(on_error, next, request)      on_error(exc, request) for an exception raised
                                         below, while the chain is built or while awaited
    ensure(next, request, cleanup, arg)  cleanup(arg) once the answer is final, however it
                                         ended (an exception, a cancellation)

The combinators take the finishing function and its argument rather than a closure, so a
request builds no function object on its way through.

>>> def stamp(response: Response, value: str) -> Response:
...     response.headers.append(("x-stamp", value))
...     return response
>>> then(Response(204), stamp, "now").headers
[('x-stamp', 'now')]
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol, TypeVar

from tailor.http import Request, Response

if TYPE_CHECKING:
    from tailor.pipeline import BuildContext

#: An endpoint: what a route calls once every stage above has let the request through.
Handler = Callable[[Request], Awaitable[Response]]
#: What a link of the chain hands back: the response itself when it was found without
#: waiting (a refusal, a cache hit), else an awaitable of it.
Outcome = Response | Awaitable[Response]
Chain = Callable[[Request], Outcome]

T = TypeVar("T")


class Stage(Protocol):
    """A stage wraps the rest of the chain. It may answer locally (a denial is a response, not
    an exception) or call ``next_handler`` and adjust what comes back (encoders run in
    reverse), with :func:`then`, :func:`rescue` or :func:`ensure`."""

    def wrap(self, next_handler: Chain) -> Chain: ...


class StageFactory(Protocol):
    """What the stage order lists: a stage class. ``name`` is what the order and a placement
    (``BFF.add_stage(..., after="authenticate")``) call it; ``build`` makes the stage from
    config, or returns ``None`` when config switches it off (then it is not in the chain)."""

    @property
    def name(self) -> str: ...

    def build(self, ctx: BuildContext) -> Stage | None: ...


async def answer(response: Response) -> Response:
    """A response ready now, as an awaitable (for callers that always await)."""
    return response


def awaitable(outcome: Outcome) -> Awaitable[Response]:
    """``outcome`` as something to await, whichever it is."""
    return answer(outcome) if isinstance(outcome, Response) else outcome


def then(outcome: Outcome, finish: Callable[[Response, T], Outcome], arg: T) -> Outcome:
    """``finish(response, arg)`` applied to ``outcome``'s response: at once when it is ready,
    else after awaiting it. ``finish`` may itself need to wait (it returns an Outcome)."""
    if isinstance(outcome, Response):
        return finish(outcome, arg)
    return _then(outcome, finish, arg)


async def _then(
    pending: Awaitable[Response], finish: Callable[[Response, T], Outcome], arg: T
) -> Response:
    finished = finish(await pending, arg)
    return finished if isinstance(finished, Response) else await finished


def rescue(
    on_error: Callable[[Exception, Request], Outcome], next_handler: Chain, request: Request
) -> Outcome:
    """``next_handler(request)``, with ``on_error(exc, request)`` answering for an exception
    raised below, whether it was raised at once or while awaiting. ``on_error`` may raise (an
    exception it does not handle goes on up). The request comes last, so that
    ``partial(rescue, on_error, next_handler)`` is a link of its own."""
    try:
        outcome = next_handler(request)
    except Exception as exc:
        return on_error(exc, request)
    if isinstance(outcome, Response):
        return outcome
    return _rescue(outcome, request, on_error)


async def _rescue(
    pending: Awaitable[Response],
    request: Request,
    on_error: Callable[[Exception, Request], Outcome],
) -> Response:
    try:
        return await pending
    except Exception as exc:
        answered = on_error(exc, request)
    return answered if isinstance(answered, Response) else await answered


def ensure(next_handler: Chain, request: Request, cleanup: Callable[[T], None], arg: T) -> Outcome:
    """``next_handler(request)``, then ``cleanup(arg)`` exactly once when its answer is final:
    at once for a ready response or an exception, else after the awaitable ends, whether it
    answered, raised or was cancelled. Awaited in the caller's own task, so a context
    variable set before and reset by ``cleanup`` is reset in the context that set it."""
    try:
        outcome = next_handler(request)
    except BaseException:
        cleanup(arg)
        raise
    if isinstance(outcome, Response):
        cleanup(arg)
        return outcome
    return _ensure(outcome, cleanup, arg)


async def _ensure(pending: Awaitable[Response], cleanup: Callable[[T], None], arg: T) -> Response:
    try:
        return await pending
    finally:
        cleanup(arg)
