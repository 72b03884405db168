"""Endpoint deadlines: one budget per request, shrinking as it is spent.

Each inward call gets ``min(its own timeout, what is left)``, and the service is told that budget
in the ``X-Deadline-Ms`` header (:func:`deadline_header`) so it can stop work nobody will wait
for. The header belongs to the upstream seam: the client sets it, and the resilient transport
re-tells it on a later attempt.
"""

from __future__ import annotations

import time

DEADLINE_HEADER = "x-deadline-ms"


def deadline_header(budget_s: float) -> tuple[str, str]:
    """The header telling a service how long its caller will wait.

    >>> deadline_header(0.25)
    ('x-deadline-ms', '250')
    """
    return (DEADLINE_HEADER, str(int(budget_s * 1000)))


class Deadline:
    """
    >>> d = Deadline(0.8)
    >>> 0 < d.budget(0.3) <= 0.3
    True
    """

    __slots__ = ("expires_at",)

    def __init__(self, budget_s: float) -> None:
        self.expires_at = time.monotonic() + budget_s

    def remaining(self) -> float:
        return self.expires_at - time.monotonic()

    def budget(self, timeout_s: float) -> float:
        """The timeout a call may use now: its own, cut to what the endpoint has left."""
        left = self.expires_at - time.monotonic()
        return timeout_s if timeout_s < left else left
