"""Running a plan: parallel fan-out, dependencies, deadline, partial degradation.

Every part becomes a task that waits for the parts it needs, then calls. A required part that
fails cancels the rest at once and its error becomes the response (502/504). An optional part
that fails yields its fallback and a :class:`Degradation` entry; the response is still a 200,
marked incomplete. An optional part without a fallback yields ``None`` (so a shape can always
read ``outcome[name]`` of every part of its plan), and the parts that need it are lost too
(reason ``dependency``): they have nothing to build their call from.

Settling is one decision, made when the plan resumes: from a required part lost (its
502/504), every part done, or the deadline (a required part still running is a 504). However
a stalled loop orders those events, an outcome never lacks a part of its plan.

Resilience (when the engine is handed the BFF's :class:`~tailor.resilience.runtime.Resilience`
runtime): an optional part with ``last_good`` falls back to its last known good value, marked
``stale`` in its degradation entry; a ``limit`` parameter is clamped to
``resilience.max_page_size``; the plan gets a call allowance of
``resilience.max_calls_per_request`` unless the shed stage already gave the request one
(``allowance``), and running out of it (:class:`FanOutLimitExceeded`) fails the response even
from an optional part. Each call carries the allowance and its part's declared idempotency on
its :class:`~tailor.upstream.transport.UpstreamRequest`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from time import time_ns
from typing import Any, ClassVar

import msgspec

from tailor.aggregate.plan import NO_FALLBACK, Inputs, Part, Plan, UnknownPart
from tailor.auth.principal import Principal
from tailor.errors import UpstreamError, UpstreamTimeout, UpstreamUnavailable
from tailor.govern.labels import DataClass
from tailor.resilience.allowance import CallAllowance
from tailor.resilience.errors import FanOutLimitExceeded
from tailor.resilience.runtime import Resilience
from tailor.trace.span import PartSpan, RequestTrace, failed
from tailor.upstream.client import UpstreamClient
from tailor.upstream.deadline import Deadline


class Degradation(msgspec.Struct, frozen=True, omit_defaults=True):
    """Why a part is missing or replaced: ``timeout``, ``unavailable``, ``status``,
    ``malformed``, ``circuit_open``, ``bulkhead_full``, or ``dependency`` (a part it needed
    was lost). ``stale`` is true when the part holds its last known good value instead (left
    out of the JSON when false).

    >>> Degradation("recs", "timeout", stale=True)
    Degradation(part='recs', reason='timeout', stale=True)
    """

    __data_class__: ClassVar[DataClass] = DataClass.INTERNAL
    part: str
    reason: str
    stale: bool = False


class PlanResult:
    """The results of a plan: values by part name, and what degraded.

    Every part of the plan has a value, however the plan settled: its result, its fallback,
    its last known good value, or ``None`` (the "missing" marker a shape must handle) for a
    lost optional part without a fallback. A name that is not in the plan raises
    :class:`~tailor.aggregate.plan.UnknownPart`: a mistake in the shape, not in a service.

    >>> outcome = PlanResult({"me": {"id": "u1"}, "recs": None}, [Degradation("recs", "status")])
    >>> outcome["recs"] is None, outcome.complete
    (True, False)
    """

    __slots__ = ("degraded", "values")

    def __init__(self, values: dict[str, Any], degraded: list[Degradation]) -> None:
        self.values = values
        self.degraded = degraded

    def __getitem__(self, part: str) -> Any:
        try:
            return self.values[part]
        except KeyError:
            parts = ", ".join(self.values)
            raise UnknownPart(f"no part named '{part}' in this plan (its parts: {parts})") from None

    @property
    def complete(self) -> bool:
        return not self.degraded


class _Lost(Exception):
    """An optional part without a fallback failed (its value is ``None``); parts that need it
    cannot run."""


async def run_plan(
    plan: Plan,
    client: UpstreamClient,
    variables: dict[str, str],
    *,
    request_id: str = "",
    deadline: Deadline | None = None,
    principal: Principal | None = None,
    resilience: Resilience | None = None,
    allowance: CallAllowance | None = None,
    trace: RequestTrace | None = None,
) -> PlanResult:
    """Execute ``plan``. Raises the :class:`UpstreamError` of the first required part lost.
    Without ``resilience`` no part falls back to a last known good value and no call is
    counted against an allowance. With ``trace`` every call carries its ``traceparent``, and
    when the trace is sampled each part is a client span of its own (its deadline, attempts,
    hedge, breaker state and outcome: docs/observability.md)."""
    deadline = deadline or Deadline(plan.deadline_s)
    if allowance is None and resilience is not None:
        # No shed stage gave this request an allowance: the plan gets its own.
        allowance = CallAllowance(resilience.settings.max_calls_per_request)
    values: dict[str, Any] = {}
    degraded: list[Degradation] = []
    tasks: dict[str, asyncio.Task[Any]] = {}
    inputs = Inputs(variables, values)  # shared by the parts: it reads results as they arrive
    keys: dict[str, Hashable] = {}  # last-known-good key of each part that made its call
    # An unsampled trace's calls all carry the same headers, made with the trace.
    unsampled = trace.unsampled if trace is not None else ()

    async def run_part(part: Part, span: PartSpan | None = None) -> Any:
        # With ``span`` (a sampled trace), the part's client span: marked failed by what
        # fails the part and ended with it, here rather than in a wrapper coroutine.
        try:
            for need in part.needs:
                try:
                    await tasks[need]
                except _Lost:
                    lost = UpstreamUnavailable(part.upstream, f"needs '{need}', which was lost")
                    return _lose(part, lost, "dependency", span)
            try:
                params = part.build_params(inputs)
                if params is None:  # nothing to fetch
                    value = part.fallback if part.fallback is not NO_FALLBACK else None
                else:
                    path = part.build_path(inputs)
                    headers = part.headers(inputs) if part.headers else ()
                    if resilience is not None:
                        params = _clamp_page(params, resilience.settings.max_page_size)
                        if part.last_good is not None:
                            key = _last_good_key(part, path, params, headers, variables, principal)
                            if key is not None:
                                keys[part.name] = key
                    if trace is not None:  # after the last-good key: it is not part of the call
                        # A sampled part's headers were made with its span (one C call).
                        traced = unsampled if span is None else span.headers
                        headers = (*headers, *traced) if headers else traced
                    value = await client.get_json(
                        part.upstream,
                        path,
                        part.into,
                        query=params,
                        headers=headers,
                        timeout_s=part.timeout_s,
                        deadline=deadline,
                        request_id=request_id,
                        principal=principal,
                        idempotent=part.idempotent,
                        allowance=allowance,
                        span=span,
                    )
                    if part.name in keys and resilience is not None:
                        resilience.last_good.put(keys[part.name], value)
            except FanOutLimitExceeded:
                raise  # a runaway fan-out fails the request, optional part or not
            except UpstreamError as exc:
                return _lose(part, exc, exc.reason, span)
            values[part.name] = value
            return value
        except BaseException as exc:
            if span is not None:
                failed(span, exc)
            raise
        finally:
            if span is not None:
                assert trace is not None  # a span comes from the trace
                # Ended inline: it goes to the exporter with the server span, or alone once
                # that has ended.
                span.end_ns = time_ns()
                if trace.closed:
                    trace.end(span)

    def _lose(part: Part, exc: UpstreamError, reason: str, span: PartSpan | None) -> Any:
        if span is not None:
            span.error = reason
        if part.required:
            raise exc
        stale = _stale(part.name)
        if stale is not None:
            if span is not None:
                span.cache = "last_good"
            degraded.append(Degradation(part.name, reason, stale=True))
            values[part.name] = stale
            return stale
        degraded.append(Degradation(part.name, reason))
        if part.fallback is NO_FALLBACK:
            values[part.name] = None  # readable by the shape; dependents are lost
            raise _Lost(part.name)
        values[part.name] = part.fallback
        return part.fallback

    def _stale(name: str) -> Any | None:
        key = keys.get(name)
        if key is None or resilience is None:
            return None
        value = resilience.last_good.get(key)
        if value is not None:
            resilience.metrics.stale_served.labels(name).inc()
        return value

    # One loop lookup per plan, not per part: on Python 3.11 each lookup is a getpid() system
    # call (fork detection), measurable at six parts per request.
    loop = asyncio.get_running_loop()
    sampled = trace if trace is not None and trace.span is not None else None
    for part in plan.order:
        tasks[part.name] = loop.create_task(
            run_part(part)
            if sampled is None
            else run_part(part, sampled.child(part.name, part.upstream))
        )
    if not tasks:
        return PlanResult(values, degraded)  # an empty plan: nothing to wait for
    # The plan wakes once: when every part is done, a part fails the response, or the deadline
    # passes. (asyncio.wait would do the same in Python with a set, a weak set and a callback
    # per task, added and removed on every call: a measurable share of a six-part plan.)
    settled: asyncio.Future[bool] = loop.create_future()
    unsettled = len(tasks)

    def on_done(task: asyncio.Task[Any]) -> None:
        nonlocal unsettled
        unsettled -= 1
        # Retrieved even when the plan is over (a part needing a failed required part ends
        # with its error too): asyncio would log every unretrieved one.
        exc = None if task.cancelled() else task.exception()
        if settled.done():
            return
        if exc is not None and not isinstance(exc, _Lost):
            settled.set_exception(exc)  # a required part lost, or a runaway fan-out
        elif unsettled == 0:
            settled.set_result(True)

    def on_deadline() -> None:
        if not settled.done():
            settled.set_result(False)

    for task in tasks.values():
        task.add_done_callback(on_done)
    # A safety margin over the deadline: calls already end by their own budgets.
    timer = loop.call_later(max(deadline.remaining(), 0) + 0.05, on_deadline)
    try:
        if not await settled:
            _give_up(plan, tasks, values, degraded, _stale)
    finally:
        timer.cancel()
        for task in tasks.values():
            if not task.done():
                task.cancel()
    return PlanResult(values, degraded)


class Engine:
    """One BFF's plan runner: its upstream client and resilience runtime, handed over once at
    startup (the handler stage puts it on every request as ``request.engine``).

    >>> from tailor.upstream.mock import MockTransport
    >>> from tailor.upstream.registry import ServiceRegistry
    >>> from tailor.upstream.transport import UpstreamRequest, UpstreamResponse
    >>> async def services(request: UpstreamRequest) -> UpstreamResponse:
    ...     if request.upstream == "users":
    ...         return UpstreamResponse(200, {}, b'{"id": "u1"}')
    ...     return UpstreamResponse(503, {}, b"")  # recs is down
    >>> registry = ServiceRegistry({"users": "http://10.0.0.1", "recs": "http://10.0.0.2"})
    >>> engine = Engine(UpstreamClient(registry, MockTransport(services)))
    >>> HOME = Plan((
    ...     Part("me", "users", "/users/{user_id}", into=dict),
    ...     Part("recs", "recs", "/recs/{user_id}", into=list, required=False),
    ... ))
    >>> result = asyncio.run(engine.run(HOME, {"user_id": "u1"}))
    >>> result["me"], result.degraded
    ({'id': 'u1'}, [Degradation(part='recs', reason='status', stale=False)])
    """

    __slots__ = ("client", "resilience")

    def __init__(self, client: UpstreamClient, resilience: Resilience | None = None) -> None:
        self.client = client
        self.resilience = resilience

    def run(
        self,
        plan: Plan,
        variables: dict[str, str],
        *,
        request_id: str = "",
        deadline: Deadline | None = None,
        principal: Principal | None = None,
        allowance: CallAllowance | None = None,
        trace: RequestTrace | None = None,
    ) -> Awaitable[PlanResult]:
        """:func:`run_plan` with this engine's client and resilience."""
        return run_plan(
            plan,
            self.client,
            variables,
            request_id=request_id,
            deadline=deadline,
            principal=principal,
            resilience=self.resilience,
            allowance=allowance,
            trace=trace,
        )


def _clamp_page(params: Mapping[str, str | int], max_page: int) -> Mapping[str, str | int]:
    """A ``limit`` above the configured maximum page size is cut to it: no part asks a service
    for an unbounded page, whatever the BFF or its client asked for."""
    limit = params.get("limit")
    if limit is None:
        return params
    try:
        if int(limit) <= max_page:
            return params
    except ValueError:
        return params  # not a number: the service will refuse it with a 400
    return {**params, "limit": max_page}


def _last_good_key(
    part: Part,
    path: str,
    params: Mapping[str, str | int],
    headers: Sequence[tuple[str, str]],
    variables: Mapping[str, str],
    principal: Principal | None,
) -> Hashable | None:
    """Who may see this value, and exactly which call produced it. None when the scope cannot
    be told (a per-user part without a caller is never stored: it could leak to another)."""
    if part.last_good == "user":
        who = principal.subject if principal is not None else variables.get("user_id", "")
    elif part.last_good == "app":
        who = principal.client_id if principal is not None else ""
    else:
        who = "*"
    if not who:
        return None
    # Sorted so the same call keys the same entry whatever order its params were built in
    # (one param, the common case, needs no sort).
    query = tuple(params.items()) if len(params) < 2 else tuple(sorted(params.items()))
    return (part.name, part.last_good, who, path, query, tuple(headers))


def _give_up(
    plan: Plan,
    tasks: dict[str, asyncio.Task[Any]],
    values: dict[str, Any],
    degraded: list[Degradation],
    stale: Callable[[str], Any | None],
) -> None:
    """The deadline passed before the plan settled: decide its outcome from each part's state
    now, not from what the done callbacks have seen. After a stalled loop (a frozen process, a
    blocking call) parts end in the same turn as the deadline timer, before their callbacks
    run; a part with no value must not simply be left out.

    In plan order, each part without a value: one that ended with an error (a required part
    lost, a part needing it, a runaway fan-out) fails the response with that error; a required
    one still running fails it as a timeout (504); an optional one still running degrades to
    its last known good value, its fallback, or ``None``.
    """
    for part in plan.order:
        name = part.name
        if name in values:
            continue
        task = tasks[name]
        if task.done() and not task.cancelled():
            # Done without a value is done with an error: a lost optional part without a
            # fallback has its None in ``values`` before it raises _Lost.
            error = task.exception()
            assert error is not None and not isinstance(error, _Lost)
            raise error
        if part.required:
            raise UpstreamTimeout(part.upstream, "endpoint deadline passed")
        value = stale(name)
        if value is not None:
            degraded.append(Degradation(name, "timeout", stale=True))
            values[name] = value
            continue
        degraded.append(Degradation(name, "timeout"))
        values[name] = None if part.fallback is NO_FALLBACK else part.fallback
