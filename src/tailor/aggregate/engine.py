"""Running a plan: parallel fan-out, dependencies, deadline, partial degradation.

Every part becomes a task that waits for the parts it needs, then calls. A required part that
fails cancels the rest at once and its error becomes the response (502/504). An optional part
that fails yields its fallback and a :class:`Degradation` entry; the response is still a 200,
marked incomplete.
"""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec

from tailor.aggregate.deadline import Deadline
from tailor.aggregate.plan import NO_FALLBACK, Inputs, Part, Plan
from tailor.auth.principal import Principal
from tailor.errors import UpstreamError, UpstreamTimeout, UpstreamUnavailable
from tailor.upstream.client import UpstreamClient


class Degradation(msgspec.Struct, frozen=True):
    """Why a part is missing or replaced: ``timeout``, ``unavailable``, ``status``,
    ``malformed``, or ``dependency`` (a part it needed was lost)."""

    part: str
    reason: str


class Outcome:
    """The results of a plan: values by part name, and what degraded."""

    __slots__ = ("degraded", "values")

    def __init__(self, values: dict[str, Any], degraded: list[Degradation]) -> None:
        self.values = values
        self.degraded = degraded

    def __getitem__(self, part: str) -> Any:
        return self.values[part]

    @property
    def complete(self) -> bool:
        return not self.degraded


class _Lost(Exception):
    """An optional part without a fallback failed; parts that need it cannot run."""


async def run_plan(
    plan: Plan,
    client: UpstreamClient,
    variables: dict[str, str],
    *,
    request_id: str = "",
    deadline: Deadline | None = None,
    principal: Principal | None = None,
) -> Outcome:
    """Execute ``plan``. Raises the :class:`UpstreamError` of the first required part lost."""
    deadline = deadline or Deadline(plan.deadline_s)
    values: dict[str, Any] = {}
    degraded: list[Degradation] = []
    tasks: dict[str, asyncio.Task[Any]] = {}

    async def run_part(part: Part) -> Any:
        for need in part.needs:
            try:
                await tasks[need]
            except _Lost:
                lost = UpstreamUnavailable(part.upstream, f"needs '{need}', which was lost")
                return _lose(part, lost, "dependency")
        inputs = Inputs(variables, values)
        try:
            params = part.build_params(inputs)
            if params is None:  # nothing to fetch
                value = part.fallback if part.fallback is not NO_FALLBACK else None
            else:
                value = await client.get_json(
                    part.upstream,
                    part.build_path(inputs),
                    part.into,
                    query=params,
                    headers=part.headers(inputs) if part.headers else (),
                    timeout_s=part.timeout_s,
                    deadline=deadline,
                    request_id=request_id,
                    principal=principal,
                )
        except UpstreamError as exc:
            return _lose(part, exc, exc.reason)
        values[part.name] = value
        return value

    def _lose(part: Part, exc: UpstreamError, reason: str) -> Any:
        if part.required:
            raise exc
        degraded.append(Degradation(part.name, reason))
        if part.fallback is NO_FALLBACK:
            raise _Lost(part.name)
        values[part.name] = part.fallback
        return part.fallback

    for part in plan.order:
        tasks[part.name] = asyncio.ensure_future(run_part(part))
    pending: set[asyncio.Task[Any]] = set(tasks.values())
    try:
        while pending:
            # A safety margin over the deadline: calls already end by their own budgets.
            done, pending = await asyncio.wait(
                pending,
                timeout=max(deadline.remaining(), 0) + 0.05,
                return_when=asyncio.FIRST_EXCEPTION,
            )
            if not done:
                _give_up(plan, tasks, pending, values, degraded)
                break
            for task in done:
                exc = task.exception()
                if exc is not None and not isinstance(exc, _Lost):
                    raise exc
    finally:
        for task in pending:
            task.cancel()
    return Outcome(values, degraded)


def _give_up(
    plan: Plan,
    tasks: dict[str, asyncio.Task[Any]],
    pending: set[asyncio.Task[Any]],
    values: dict[str, Any],
    degraded: list[Degradation],
) -> None:
    """The deadline passed with parts still running: a required one fails the response, an
    optional one degrades to its fallback."""
    for name, task in tasks.items():
        if task not in pending:
            continue
        part = plan.by_name[name]
        if part.required:
            raise UpstreamTimeout(part.upstream, "endpoint deadline passed")
        degraded.append(Degradation(name, "timeout"))
        if part.fallback is not NO_FALLBACK:
            values[name] = part.fallback
