"""The per-request call allowance (the fan-out storm guard).

The shed stage gives every request one (``request.allowance``); without it the engine gives
each plan its own. It reaches the resilient transport on each
:class:`~tailor.upstream.transport.UpstreamRequest` (``allowance``), which draws on it once per
call (retries and hedges do not count).
"""

from __future__ import annotations

from tailor.resilience.errors import FanOutLimitExceeded


class CallAllowance:
    """How many upstream calls one request may still make.

    >>> allowance = CallAllowance(2)
    >>> allowance.take("users"); allowance.take("users")
    >>> allowance.take("users")
    Traceback (most recent call last):
    ...
    tailor.resilience.errors.FanOutLimitExceeded: users: more than 2 upstream calls in one request
    """

    __slots__ = ("limit", "used")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    def take(self, upstream: str) -> None:
        if self.used >= self.limit:
            raise FanOutLimitExceeded(upstream, self.limit)
        self.used += 1
