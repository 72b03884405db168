"""Edge admission: load shedding and the per-request call allowance.

Shedding: at most ``resilience.shed.max_in_flight`` requests run at once in this process. A
request over the cap joins a queue only if the wait looks short (queue length x recent service
time / slots <= ``max_queue_wait_s``) and the cap has not shrunk (see below), and then waits at
most that long; otherwise it is answered 503 problem+json with ``Retry-After`` at once. A fast
503 lets the client (or its load balancer) go elsewhere; a slow timeout holds its connection and
ours for nothing. A request that reaches the stage more than ``max_wait_s`` after the server
read it (``request.received_at``: it waited behind others on its connection, or for a busy
event loop) is answered 503 at once as well: served that late, its answer would mostly arrive
after its client gave up. The first request of a connection the server admitted at accept
(``request.first_on_connection``) is not refused for a cap that shrank since: the server counted
it against the cap when it admitted the connection (:meth:`ShedStage.admit_connection`), and
refusing it now, after its transport and its parse, would be the slowest refusal of all.

The cap itself follows the event loop: when the worker's core is saturated, every request in
flight slows every other (and the refusals too), so the cap shrinks while the loop runs later
than ``target_lag_s`` and grows back when it catches up (:mod:`tailor.resilience.looplag`).

Allowance: every request gets a fresh :class:`~tailor.resilience.allowance.CallAllowance`
(``resilience.max_calls_per_request``) as ``request.allowance``; the engine hands it to each of
the request's calls, and the resilient transport draws on it: a runaway fan-out fails the
request instead of flooding the services. Without this stage (shedding off),
:func:`~tailor.aggregate.engine.run_plan` gives each plan its own allowance instead.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from prometheus_client import Counter

from tailor.chain import Chain, Outcome, awaitable, ensure
from tailor.http import Request, Response
from tailor.problem import problem_response
from tailor.resilience.allowance import CallAllowance
from tailor.resilience.looplag import LagLimit
from tailor.resilience.metrics import ResilienceMetrics
from tailor.resilience.settings import ShedSettings

if TYPE_CHECKING:
    from tailor.pipeline import BuildContext

# Weight of the newest sample in the moving average of service time.
_EWMA_ALPHA = 0.1


class AdmissionQueue:
    """A counting gate with a bounded, FIFO wait.

    >>> gate = AdmissionQueue(max_in_flight=2, max_queue_wait_s=0.05)
    >>> gate.in_flight
    0
    """

    def __init__(
        self,
        *,
        max_in_flight: int,
        max_queue_wait_s: float,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.max_in_flight = max_in_flight
        #: The cap as configured: ``max_in_flight`` below it means the loop is overloaded.
        self.ceiling = max_in_flight
        self.max_queue_wait_s = max_queue_wait_s
        self.in_flight = 0
        #: Connections the server admitted whose first request has not arrived yet, as it
        #: last said (:meth:`ShedStage.admit_connection`): in flight a turn or two from now.
        self.pending = 0
        self.service_time_s = 0.0  # moving average of how long an admitted request runs
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self.clock = clock  # what an admitted request's start is read from (see leave)

    def estimated_wait(self, ahead: int = 0) -> float:
        """How long a newcomer would queue: everyone ahead (the waiters and ``ahead`` more),
        served ``max_in_flight`` at a time."""
        return (len(self._waiters) + ahead + 1) * self.service_time_s / self.max_in_flight

    def try_enter(self) -> bool:
        """Take a free slot without waiting, when there is one and nobody queues for it."""
        if self.in_flight < self.max_in_flight and not self._waiters:
            self.in_flight += 1
            return True
        return False

    def refusing(self) -> str | None:
        """Why a newcomer would be refused now, without taking anything, or None: what
        :meth:`try_enter` then :meth:`refusal` decide for it."""
        if self.in_flight < self.max_in_flight and not self._waiters:
            return None
        return self.refusal()

    def refusal(self, ahead: int = 0) -> str | None:
        """Why a newcomer finding no free slot is refused without queueing, or None; ``ahead``:
        others that will queue before it (not waiters yet)."""
        if self.max_in_flight < self.ceiling:
            # The cap shrank because the loop runs late: a slot frees only in a late turn, and
            # a waiter costs a timer and a task, most of them to be refused all the same.
            return "overload"
        if self.max_queue_wait_s <= 0 or self.estimated_wait(ahead) > self.max_queue_wait_s:
            return "queue_estimate"
        return None

    async def enter(self) -> str | None:
        """Take a slot. Returns None when admitted, else why it was refused."""
        if self.try_enter():
            return None
        refused = self.refusal()
        if refused is not None:
            return refused
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(self.max_queue_wait_s):
                await waiter
        except TimeoutError:
            pass
        except asyncio.CancelledError:
            if _handed_over(waiter):
                self._release()  # the caller went away holding a slot: pass it on
            raise
        finally:
            if not _handed_over(waiter):
                self._remove(waiter)
        # A slot handed over by leave() is already counted in in_flight.
        return None if _handed_over(waiter) else "queue_wait"

    def leave(self, started: float) -> None:
        """Give back the slot of a request admitted at ``started`` (read from ``clock``)."""
        self.service_time_s += _EWMA_ALPHA * (self.clock() - started - self.service_time_s)
        if self._waiters and self.in_flight <= self.max_in_flight:  # the cap may have shrunk
            self._release()
        else:
            self.in_flight -= 1  # nobody to hand the slot to (what _release does then)

    def _release(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # hand the slot over without releasing it
                return
        self.in_flight -= 1

    def _remove(self, waiter: asyncio.Future[None]) -> None:
        with contextlib.suppress(ValueError):
            self._waiters.remove(waiter)
        waiter.cancel()


def _handed_over(waiter: asyncio.Future[None]) -> bool:
    return waiter.done() and not waiter.cancelled()


class ShedStage:
    name = "shed"

    def __init__(
        self,
        settings: ShedSettings,
        max_calls: int,
        metrics: ResilienceMetrics | None,
    ) -> None:
        self._settings = settings
        self._max_calls = max_calls
        self._metrics = metrics
        self.gate = AdmissionQueue(
            max_in_flight=settings.max_in_flight, max_queue_wait_s=settings.max_queue_wait_s
        )
        #: The cap that follows the loop's lag (tailor.resilience.looplag); None: fixed.
        self.limit = (
            LagLimit(
                ceiling=settings.max_in_flight,
                target_lag_s=settings.target_lag_s,
                window_s=settings.lag_window_s,
            )
            if settings.target_lag_s > 0
            else None
        )
        # The counters of refusals by reason, each looked up once: under overload one is bumped
        # per request or connection, and a lookup (labels) costs more than the bump.
        self._refused: dict[str, Counter] = {}
        self._refused_connections = self._counter("connection")
        if metrics is not None:
            gate, limit = self.gate, self.limit
            metrics.shed_limit.set_function(lambda: gate.max_in_flight)
            if limit is not None:
                metrics.loop_lag.set_function(lambda: limit.lag_s)

    def admit_connection(self, pending: int = 0) -> bool:
        """False (and counted, reason ``connection``) while the requests in flight and the
        ``pending`` connections (accepted, their first request not yet here) fill the cap and
        the first request of one more would be refused rather than queued (the cap has shrunk,
        or the queue's wait, those pending counted in it, looks too long): the server turns
        the connection away as it accepts it (:meth:`tailor.app.BFF.admitting`)."""
        gate = self.gate
        gate.pending = pending  # the lag-following cap counts them as in flight (looplag)
        ahead = gate.in_flight + pending - gate.max_in_flight
        if ahead < 0 or gate.refusal(ahead) is None:
            return True
        if self._refused_connections is not None:
            self._refused_connections.inc()
        return False

    def _counter(self, reason: str) -> Counter | None:
        """The shed counter for ``reason``, or None without metrics."""
        counter = self._refused.get(reason)
        if counter is None and self._metrics is not None:
            counter = self._refused[reason] = self._metrics.shed.labels(reason)
        return counter

    def refuses_request(self) -> bool:
        """True (and counted, with the reason the stage would give) while a request that is
        not its connection's first would be refused here whatever it asks: the server then
        answers it as soon as its head is parsed (:meth:`tailor.app.BFF.shedding`), before a
        request object, the stages above this one and a problem body are made for it. Under
        overload most requests on kept-alive connections are refused, and through the pipeline
        each refusal cost about a sixteenth of a served home (docs/resilience.md)."""
        gate = self.gate
        if gate.in_flight < gate.max_in_flight:  # room: the usual answer, asked per request
            return False
        refused = gate.refusing()
        if refused is None:
            return False
        counter = self._counter(refused)
        if counter is not None:
            counter.inc()
        return True

    async def adapt(self) -> None:
        """The background job that keeps the cap in step with the loop's lag."""
        assert self.limit is not None
        await self.limit.run(self.gate)

    @classmethod
    def build(cls, ctx: BuildContext) -> ShedStage | None:
        settings = ctx.config.resilience
        if not settings.shed.enabled:
            return None  # the engine still gives each plan its call allowance
        metrics = ctx.resilience.metrics if ctx.resilience is not None else None
        stage = cls(settings.shed, settings.max_calls_per_request, metrics)
        if stage.limit is not None:
            ctx.background.append(stage.adapt)
            ctx.admission.append(stage.admit_connection)  # the cap shrinks only with it
        ctx.shedding.append(stage.refuses_request)
        return stage

    def wrap(self, next_handler: Chain) -> Chain:
        max_calls = self._max_calls
        gate = self.gate
        clock, release = gate.clock, gate.leave
        max_wait = self._settings.max_wait_s

        # The slot is held until the answer is final, whether it came at once or had to be
        # awaited.
        def admit(request: Request) -> Outcome:
            if request.first_on_connection and gate.pending:
                # No longer pending: what the server last said goes stale when no connection
                # comes after (kept-alive clients), and would fill the cap for the lag limit.
                gate.pending -= 1
            now = clock()
            if now - request.received_at > max_wait:  # its answer would come too late
                return self._shed(request, "waited")
            if not gate.try_enter():  # the usual case, a free slot, takes no coroutine
                # Nor does a refusal: under overload most requests are refused, and a coroutine
                # each (with the stages' above awaiting it) would double what one costs.
                refused = gate.refusal()
                if refused is None:
                    return queued(request)
                if not admitted_at_accept(request, refused):
                    return self._shed(request, refused)
            return admitted(request, now)

        def admitted_at_accept(request: Request, refused: str) -> bool:
            """Whether ``request`` is let past a cap that shrank (and takes a slot over it): the
            first request of a connection the server admitted at accept, counted against the
            cap there (admit_connection's pending). Refused now, after its transport and its
            parse, it would be the slowest refusal of all."""
            if (
                request.first_on_connection
                and refused == "overload"
                and gate.in_flight < gate.ceiling
            ):
                gate.in_flight += 1
                return True
            return False

        def admitted(request: Request, started: float) -> Outcome:
            request.allowance = CallAllowance(max_calls)
            return ensure(next_handler, request, release, started)

        async def queued(request: Request) -> Response:
            refused = await gate.enter()
            if refused is not None and not admitted_at_accept(request, refused):
                return self._shed(request, refused)
            return await awaitable(admitted(request, clock()))

        return admit

    def _shed(self, request: Request, reason: str) -> Response:
        counter = self._counter(reason)
        if counter is not None:
            counter.inc()
        request.error_cause = "shed"
        return problem_response(
            503,
            "the service is over capacity; retry later",
            headers=(("retry-after", str(self._settings.retry_after_s)),),
            request_id=request.request_id,
        )
