"""Per-request and per-call resilience state, carried in context variables.

The transport seam knows only upstream, method, URL, headers and timeout; what it needs beyond
that travels in the context: the request's call allowance (set by the shed stage for every
request) and a call's declared idempotency (set by the engine around a part's call). Tasks
copy the context when created, so each part's task sees the request's allowance and only its
own call options.
"""

from __future__ import annotations

import contextvars

from tailor.resilience.errors import FanOutLimitExceeded


class CallAllowance:
    """How many upstream calls one request may still make (the fan-out storm guard).

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


REQUEST_ALLOWANCE: contextvars.ContextVar[CallAllowance | None] = contextvars.ContextVar(
    "tailor_request_allowance", default=None
)

#: A call's declared idempotency (None: decided by its method and headers).
CALL_IDEMPOTENT: contextvars.ContextVar[bool | None] = contextvars.ContextVar(
    "tailor_call_idempotent", default=None
)
