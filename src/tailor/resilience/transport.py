"""The resilient transport: retries, retry budget, circuit breaker, bulkhead and hedging,
wrapped around any :class:`~tailor.upstream.transport.Transport`.

One call (``send``) may become several attempts, all inside the call's own timeout (which the
client has already cut to the endpoint deadline): an attempt is never started when the backoff
would outlive what is left, and each attempt tells the service its own remaining budget in
``x-deadline-ms``. Only idempotent calls are retried or hedged: GET and HEAD by default, a call
carrying an ``Idempotency-Key``, or a part that declares it (``Part(idempotent=True)``, which
arrives as ``UpstreamRequest.idempotent``). Each call draws once on the request's
:class:`~tailor.resilience.allowance.CallAllowance` when it carries one
(``UpstreamRequest.allowance``); retries and hedges do not.

A failure, for the breaker, is a transport error (timeout, refused, reset) or a status in
``failure_statuses`` (any 5xx by default). A retry follows a transport error or a status in
``retry.statuses`` (502, 503, 504: the gateway statuses that say "not now"; a 500 is counted
but not retried). Fail-fast refusals (:class:`CircuitOpen`, :class:`BulkheadFull`) are never
retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import msgspec

from tailor.errors import UpstreamError, UpstreamTimeout
from tailor.resilience.backoff import full_jitter
from tailor.resilience.breaker import BreakerState
from tailor.resilience.errors import BulkheadFull, CircuitOpen
from tailor.resilience.runtime import Resilience, UpstreamGuards
from tailor.upstream.deadline import DEADLINE_HEADER, deadline_header
from tailor.upstream.transport import Transport, UpstreamRequest, UpstreamResponse

#: A breaker's state as a traced call's span says it (no enum lookups per call).
_BREAKER_WORDS = {state: state.name.lower() for state in BreakerState}
#: No attempt is started with less than this left: it could not finish anyway.
MIN_ATTEMPT_S = 0.005
#: A later attempt (after a backoff) re-tells the service its smaller budget.
_REBUILD_BELOW_S = 0.002

Result = UpstreamResponse | UpstreamError
#: An attempt's result and whether it succeeded, decided once, where the breaker records it: a
#: failure is a transport error or a status in ``failure_statuses``.
Attempt = tuple[Result, bool]


class ResilientTransport:
    """Any transport, with the BFF's resilience around each call: a GET answered 503 is
    tried again.

    >>> from tailor.config import ResilienceSettings
    >>> from tailor.upstream.mock import MockTransport
    >>> statuses = iter([503, 200])
    >>> async def users(request: UpstreamRequest) -> UpstreamResponse:
    ...     return UpstreamResponse(next(statuses), {}, b"{}")
    >>> inner = MockTransport(users)
    >>> transport = ResilientTransport(inner, Resilience(ResilienceSettings(), ["users"]))
    >>> call = UpstreamRequest("users", "GET", "http://10.0.0.1/users/u1", [], 2.0)
    >>> asyncio.run(transport.send(call)).status, len(inner.requests)
    (200, 2)
    """

    def __init__(self, inner: Transport, resilience: Resilience) -> None:
        self.inner = inner
        self.resilience = resilience
        self._metrics = resilience.metrics

    async def send(self, request: UpstreamRequest) -> UpstreamResponse:
        allowance = request.allowance
        if allowance is not None:
            try:
                allowance.take(request.upstream)
            except UpstreamError:
                self._metrics.fanout_limited.labels(request.upstream).inc()
                raise
        guards = self.resilience.guards(request.upstream)
        policy = guards.policy
        guards.budget.record_call()
        ends = time.monotonic() + request.timeout_s
        retryable = _idempotent(request, policy.idempotent_methods)
        attempts = policy.retry.max_attempts if retryable else 1
        hedge_after = policy.hedge_after_s if retryable else None
        attempt = 1
        while True:
            if hedge_after is None:  # the common case: no hedging machinery at all
                result, ok = await self._attempt(guards, request, ends)
            else:
                result, ok = await self._round(guards, request, ends, hedge_after)
            if ok or attempt >= attempts:
                break
            if isinstance(result, UpstreamResponse):
                if result.status not in guards.retrying:
                    break  # a failure, but one a retry would repeat (a 500)
            elif isinstance(result, CircuitOpen | BulkheadFull):
                break  # refused without a call: retrying would only hammer the guard
            delay = full_jitter(attempt, policy.retry.backoff_base_s, policy.retry.backoff_max_s)
            if time.monotonic() + delay + MIN_ATTEMPT_S >= ends:
                break  # never past the deadline
            if not guards.budget.try_spend():
                self._metrics.budget_exhausted.labels(request.upstream).inc()
                break
            self._metrics.retries.labels(request.upstream).inc()
            attempt += 1
            await asyncio.sleep(delay)
        span = request.span
        if span is not None:
            span.attempts = attempt
            span.breaker = _BREAKER_WORDS[guards.breaker.state]
        if isinstance(result, UpstreamError):
            raise result
        return result

    async def aclose(self) -> None:
        await self.inner.aclose()

    # -- one round: an attempt, perhaps with a hedge ------------------------------------------

    async def _round(
        self,
        guards: UpstreamGuards,
        request: UpstreamRequest,
        ends: float,
        hedge_after: float,
    ) -> Attempt:
        """An attempt, and a second one if the first has not answered after ``hedge_after``."""
        if time.monotonic() + hedge_after >= ends:
            return await self._attempt(guards, request, ends)
        first = asyncio.ensure_future(self._attempt(guards, request, ends))
        tasks = {first}
        try:
            done, _ = await asyncio.wait(tasks, timeout=hedge_after)
            if done:
                return first.result()
            if time.monotonic() + MIN_ATTEMPT_S >= ends or not guards.budget.try_spend():
                if time.monotonic() + MIN_ATTEMPT_S < ends:
                    self._metrics.budget_exhausted.labels(request.upstream).inc()
                return await first
            self._metrics.hedges.labels(request.upstream).inc()
            if request.span is not None:
                request.span.hedged = True
            tasks.add(asyncio.ensure_future(self._attempt(guards, request, ends)))
            outcome: Attempt | None = None
            while tasks:
                done, tasks = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    outcome = task.result()
                    if outcome[1]:
                        return outcome  # first good answer wins; the finally cancels the loser
            assert outcome is not None
            return outcome
        finally:
            for task in tasks:
                task.cancel()

    async def _attempt(
        self, guards: UpstreamGuards, request: UpstreamRequest, ends: float
    ) -> Attempt:
        """One attempt through the breaker and the bulkhead. Failures are returned, not
        raised, so a round can compare its attempts."""
        upstream = request.upstream
        try:
            probe = guards.breaker.admit()
        except CircuitOpen as exc:
            self._metrics.breaker_rejections.labels(upstream).inc()
            return exc, False
        bulkhead = guards.bulkhead
        try:
            if not bulkhead.try_acquire():  # the fast path takes a slot without awaiting
                await bulkhead.acquire()
        except BulkheadFull as exc:
            guards.breaker.release(probe)
            self._metrics.bulkhead_rejections.labels(upstream).inc()
            return exc, False
        except BaseException:
            # Cancelled while queued for a slot: a half-open probe must be handed back, or
            # the breaker would refuse every later call until the process restarts.
            guards.breaker.release(probe)
            raise
        try:
            left = ends - time.monotonic()
            if left < MIN_ATTEMPT_S:
                guards.breaker.release(probe)
                return UpstreamTimeout(upstream, "no time left for another attempt"), False
            if left < request.timeout_s - _REBUILD_BELOW_S:
                request = _with_budget(request, left)
            try:
                response = await self.inner.send(request)
            except UpstreamError as exc:
                guards.breaker.record(probe, ok=False)
                return exc, False
            except BaseException:
                # Cancelled (or a bug below): no outcome to record, but a half-open probe must
                # be handed back, or the breaker would refuse every later call.
                with contextlib.suppress(Exception):
                    guards.breaker.release(probe)
                raise
            ok = response.status not in guards.failing
            guards.breaker.record(probe, ok=ok)
            return response, ok
        finally:
            bulkhead.release()


def _idempotent(request: UpstreamRequest, methods: list[str]) -> bool:
    declared = request.idempotent
    if declared is not None:
        return declared
    if request.method in methods:
        return True
    return any(name.lower() == "idempotency-key" for name, _ in request.headers)


def _with_budget(request: UpstreamRequest, left: float) -> UpstreamRequest:
    """The request for a later attempt: its timeout and ``x-deadline-ms`` are what is left.
    (A first attempt has lost only microseconds since the client set both and is sent as is:
    rebuilding the headers of every call to shave a millisecond would cost more than it tells
    the service.)"""
    told = deadline_header(left)
    headers = [
        told if name == DEADLINE_HEADER else (name, value) for name, value in request.headers
    ]
    return msgspec.structs.replace(request, headers=headers, timeout_s=left)
