"""The generic cell rate algorithm (GCRA), in integer microseconds, and the shapes every
backend shares.

A quota of ``limit`` requests per ``window_s`` gives each request a cost of
``interval = ceil(window / limit)`` microseconds. A key stores one number, its theoretical
arrival time (TAT). A request is allowed when ``max(TAT, now) + interval - now`` does not
exceed ``capacity = interval * limit``; then TAT moves to that sum. So a fresh key allows
exactly ``limit`` requests at once, then one per ``interval``. Integers (not floats) make the
count exact: a float sum of 1000 intervals can land one ulp past the capacity and refuse the
1000th request.

Several quotas are judged together and either all are charged or none is: a request refused
by one policy does not use up another's quota.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import msgspec

from tailor.errors import TailorError

MICROS = 1_000_000


class BackendUnavailable(TailorError):
    """The counters cannot be read or written now (Redis down or too slow)."""


class Quota:
    """``limit`` requests per ``window_s`` seconds for ``key``. The GCRA constants are
    computed once here (the rate-limit stage keeps each recent caller's quota).

    >>> Quota("rl:ip:203.0.113.7", 10, 60).interval_us
    6000000
    """

    __slots__ = ("capacity_us", "interval_us", "key", "limit", "window_s")

    def __init__(self, key: str, limit: int, window_s: float) -> None:
        self.key = key
        self.limit = limit
        self.window_s = window_s
        window_us = int(window_s * MICROS)
        self.interval_us = -(-window_us // limit)  # ceil: never more than limit per window
        self.capacity_us = self.interval_us * limit

    def __repr__(self) -> str:
        return f"Quota({self.key!r}, {self.limit}, {self.window_s})"


# Usage and Verdict are built for every quota of every request: msgspec Structs, whose
# constructor is C (cheaper than a slotted dataclass's: docs/benchmarks.md). gc=False: they
# hold only numbers and Usages, so they can never be part of a reference cycle.
class Usage(msgspec.Struct, frozen=True, gc=False):
    """One quota after a decision: ``remaining`` requests now, and ``reset_s``: seconds until
    the quota is whole again (allowed) or until the next request fits (refused)."""

    remaining: int
    reset_s: float
    refused: bool = False


class Verdict(msgspec.Struct, frozen=True, gc=False):
    """Allowed or not, with one :class:`Usage` per quota (same order) and, when refused, how
    long to wait."""

    allowed: bool
    usages: tuple[Usage, ...]
    retry_after_s: float = 0.0


class RateLimiter(Protocol):
    """A backend: judge and (if allowed) charge every quota atomically."""

    async def acquire(self, quotas: Sequence[Quota]) -> Verdict: ...


def judge(quotas: Sequence[Quota], held_us: Sequence[int]) -> Verdict:
    """Decide from how far each key's TAT is ahead of now (``held_us``, >= 0).

    >>> q = Quota("k", 2, 10)
    >>> judge([q], [0]).usages[0].remaining, judge([q], [5_000_000]).allowed
    (1, True)
    >>> judge([q], [10_000_000]).retry_after_s
    5.0
    """
    charges: list[tuple[Quota, int]] = []
    for q, h in zip(quotas, held_us, strict=True):
        used = h + q.interval_us
        if used > q.capacity_us:
            return refused(quotas, held_us)
        charges.append((q, used))
    return allowed(charges)


def allowed(charges: Sequence[tuple[Quota, int]]) -> Verdict:
    """Every quota fits and is charged: each ``(quota, used_us)`` says its key's TAT is now
    ``used_us`` (> 0) ahead of now. Pairs, not two lists: zip(strict=...) costs more than
    the rest of a one-quota decision."""
    if len(charges) == 1:  # the common case, without the list and the loop
        ((q, used),) = charges
        return Verdict(True, (Usage((q.capacity_us - used) // q.interval_us, used / MICROS),))
    usages: list[Usage] = []
    for q, used in charges:
        usages.append(Usage((q.capacity_us - used) // q.interval_us, used / MICROS))
    return Verdict(True, tuple(usages))


def refused(quotas: Sequence[Quota], held_us: Sequence[int]) -> Verdict:
    """At least one quota does not fit: nothing is charged. The refused ones say how long
    until the next request fits; the others what is left without this request."""
    usages: list[Usage] = []
    retry = 0.0
    for q, h in zip(quotas, held_us, strict=True):
        if h + q.interval_us > q.capacity_us:
            wait = (h + q.interval_us - q.capacity_us) / MICROS
            retry = max(retry, wait)
            usages.append(Usage(0, wait, refused=True))
        else:  # not charged: what is left without this request
            usages.append(Usage((q.capacity_us - h) // q.interval_us, h / MICROS))
    return Verdict(False, tuple(usages), retry)
