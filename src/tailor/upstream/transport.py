"""The transport seam: everything tailor knows about sending one request to a service.

A transport turns an :class:`UpstreamRequest` into an :class:`UpstreamResponse` or raises one of
:class:`~tailor.errors.UpstreamTimeout` / :class:`~tailor.errors.UpstreamUnavailable`. It does
not interpret statuses or bodies; the client above it does. Swapping the HTTP library (or adding
gRPC) means writing one more class with this shape.

Per-call options travel on the request itself: ``idempotent`` (a part's declared idempotency;
None: decided by method and headers) and ``allowance`` (the calling request's
:class:`~tailor.resilience.allowance.CallAllowance`). A plain transport ignores both; the
resilient transport acts on them. ``into`` is the type the caller will decode the answer into
(a part's consumed struct): an HTTP transport ignores it; the gRPC transport asks for just
those fields (its read mask) and answers with the decoded ``value`` itself, and with ``error``
when the service's status says more than a number can. It also records its attempts, hedge
and breaker state on ``span`` (a sampled Part's client span, :mod:`tailor.trace`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

import msgspec

from tailor.errors import UpstreamError

if TYPE_CHECKING:
    from tailor.resilience.allowance import CallAllowance
    from tailor.trace.span import PartSpan


#: RFC 9110 section 9.2.2: a request with one of these may be sent again with the same effect.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})


class UpstreamRequest(msgspec.Struct):
    upstream: str
    method: str
    url: str
    headers: list[tuple[str, str]]
    timeout_s: float
    body: bytes | None = None
    idempotent: bool | None = None
    allowance: CallAllowance | None = None
    into: Any = None
    span: PartSpan | None = None  # a Part's client span: the resilient transport annotates it


def resendable(request: UpstreamRequest) -> bool:
    """Whether ``request`` may go out once more with the same effect: as its part declared
    (``idempotent``), else by its method."""
    if request.idempotent is not None:
        return request.idempotent
    return request.method in IDEMPOTENT_METHODS


class UpstreamResponse(msgspec.Struct):
    status: int
    headers: Mapping[str, str]
    body: bytes
    value: Any = None
    error: UpstreamError | None = None


class Transport(Protocol):
    async def send(self, request: UpstreamRequest) -> UpstreamResponse:
        """Send one request. Raise UpstreamTimeout or UpstreamUnavailable on failure."""
        ...

    async def aclose(self) -> None:
        """Release pooled connections."""
        ...
