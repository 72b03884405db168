"""The client a handler uses to call internal services.

It adds what every inward call needs (the registry lookup, the deadline budget and its header,
the request id, metrics) and turns statuses and bodies into typed values or
:class:`~tailor.errors.UpstreamError`. It never forwards a client header: an inward request is
built from scratch, with only the headers the BFF adds on purpose.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec

from tailor.auth.principal import Principal
from tailor.errors import UpstreamDecodeError, UpstreamError, UpstreamStatusError, UpstreamTimeout
from tailor.observe.metrics import HistogramChild, Metrics, TallyChild
from tailor.upstream.deadline import Deadline, deadline_header
from tailor.upstream.inward import InwardCredentials
from tailor.upstream.registry import ServiceRegistry
from tailor.upstream.transport import Transport, UpstreamRequest, UpstreamResponse
from tailor.upstream.urls import query_string

if TYPE_CHECKING:
    from tailor.resilience.allowance import CallAllowance
    from tailor.trace.span import PartSpan, RequestTrace

T = TypeVar("T")

_ACCEPT_JSON = ("accept", "application/json")
_CONTENT_JSON = ("content-type", "application/json")


class UpstreamClient:
    """
    >>> import asyncio
    >>> from tailor.upstream.mock import MockTransport
    >>> class UserCard(msgspec.Struct):
    ...     name: str
    >>> async def users(request: UpstreamRequest) -> UpstreamResponse:
    ...     return UpstreamResponse(200, {}, b'{"id": "u1", "name": "Ada"}')
    >>> registry = ServiceRegistry({"users": "http://127.0.0.1:9002"})
    >>> client = UpstreamClient(registry, MockTransport(users))
    >>> asyncio.run(client.get_json("users", "/users/u1", into=UserCard))
    UserCard(name='Ada')
    """

    def __init__(
        self,
        registry: ServiceRegistry,
        transport: Transport,
        *,
        metrics: Metrics | None = None,
        default_timeout_s: float = 2.0,
        credentials: InwardCredentials | None = None,
    ) -> None:
        self.registry = registry
        self.transport = transport
        self.credentials = credentials
        self._metrics = metrics
        self._default_timeout_s = default_timeout_s
        self._decoders: dict[Any, msgspec.json.Decoder[Any]] = {}
        self._series: dict[tuple[str, str], tuple[TallyChild, HistogramChild]] = {}

    async def request(
        self,
        upstream: str,
        path: str,
        *,
        method: str = "GET",
        query: Mapping[str, str | int] | None = None,
        headers: Sequence[tuple[str, str]] = (),
        body: bytes | None = None,
        timeout_s: float | None = None,
        deadline: Deadline | None = None,
        request_id: str = "",
        principal: Principal | None = None,
        idempotent: bool | None = None,
        allowance: CallAllowance | None = None,
        trace: RequestTrace | None = None,
        into: Any = None,
    ) -> UpstreamResponse:
        """Send one call. ``idempotent`` and ``allowance`` ride on the
        :class:`~tailor.upstream.transport.UpstreamRequest` for the resilient transport;
        ``trace`` (the calling request's, ``request.trace``) adds its ``traceparent``;
        ``into`` is the struct :meth:`decode` will be asked for (a gRPC transport converts
        the answer into it)."""
        return await self._call(
            upstream,
            path,
            method,
            query,
            headers if trace is None else (*headers, *trace.inward()),
            body,
            timeout_s,
            deadline,
            request_id,
            principal,
            idempotent,
            allowance,
            into,
        )

    async def get_json(
        self,
        upstream: str,
        path: str,
        into: type[T],
        *,
        query: Mapping[str, str | int] | None = None,
        headers: Sequence[tuple[str, str]] = (),
        timeout_s: float | None = None,
        deadline: Deadline | None = None,
        request_id: str = "",
        principal: Principal | None = None,
        idempotent: bool | None = None,
        allowance: CallAllowance | None = None,
        span: PartSpan | None = None,
    ) -> T:
        """GET and decode a 2xx JSON body into ``into``; other statuses raise. ``span`` (a
        Part's client span) is told the call's budget and status, and rides on the
        :class:`~tailor.upstream.transport.UpstreamRequest` for the resilient transport."""
        # Options passed by position, not by name or as **options: binding them is a
        # measurable share of an inward call, made once per part.
        response = await self._call(
            upstream,
            path,
            "GET",
            query,
            headers,
            None,
            timeout_s,
            deadline,
            request_id,
            principal,
            idempotent,
            allowance,
            into,
            span,
        )
        return self.decode(upstream, response, into)

    async def _call(
        self,
        upstream: str,
        path: str,
        method: str,
        query: Mapping[str, str | int] | None,
        headers: Sequence[tuple[str, str]],
        body: bytes | None,
        timeout_s: float | None,
        deadline: Deadline | None,
        request_id: str,
        principal: Principal | None,
        idempotent: bool | None,
        allowance: CallAllowance | None,
        into: Any = None,
        span: PartSpan | None = None,
    ) -> UpstreamResponse:
        timeout = timeout_s if timeout_s is not None else self._default_timeout_s
        if deadline is not None:
            timeout = deadline.budget(timeout)
        if timeout <= 0.001:
            self._count(upstream, "deadline")
            raise UpstreamTimeout(upstream, "no time left in the endpoint deadline")
        url = self.registry.url(upstream, path)
        if query:
            url = f"{url}?{query_string(query)}"
        inward = [_ACCEPT_JSON, deadline_header(timeout)]
        if request_id:
            inward.append(("x-request-id", request_id))
        if body is not None:
            inward.append(_CONTENT_JSON)
        inward.extend(headers)
        credentials = self.credentials
        if credentials is not None:
            # A cached credential is added without a coroutine; a miss awaits the exchange.
            cached = credentials.cached_headers(upstream, principal)
            if cached is None:
                cached = await credentials.headers(upstream, principal)
            inward.extend(cached)
        if span is not None:
            span.deadline_ms = round(timeout * 1000)
        started = time.perf_counter()
        try:
            response = await self.transport.send(
                UpstreamRequest(
                    upstream,
                    method,
                    url,
                    inward,
                    timeout,
                    body,
                    idempotent,
                    allowance,
                    into,
                    span,
                )
            )
        except UpstreamError as exc:
            self._observe(upstream, exc.reason, started)
            raise
        self._observe(upstream, "ok" if response.status < 500 else "status", started)
        if span is not None:
            span.status = response.status
        return response

    def decode(self, upstream: str, response: UpstreamResponse, into: type[T]) -> T:
        if not 200 <= response.status < 300:
            raise response.error or UpstreamStatusError(upstream, response.status)
        if response.value is not None:  # decoded by the transport (gRPC)
            return response.value  # type: ignore[no-any-return]
        decoder = self._decoders.get(into)
        if decoder is None:
            decoder = self._decoders[into] = msgspec.json.Decoder(into)
        try:
            return decoder.decode(response.body)  # type: ignore[no-any-return]
        except msgspec.DecodeError as exc:
            raise UpstreamDecodeError(upstream, "body does not match the consumed shape") from exc

    def fetcher(self, upstream: str, path: str) -> Callable[[], Awaitable[bytes]]:
        """A function that GETs ``path`` and returns the raw 200 body (for key sets and the
        like, fetched by tailor itself rather than on behalf of a caller)."""

        async def fetch() -> bytes:
            response = await self.request(upstream, path, timeout_s=2.0)
            if response.status != 200:
                raise UpstreamStatusError(upstream, response.status)
            return response.body

        return fetch

    def _observe(self, upstream: str, outcome: str, started: float) -> None:
        if self._metrics is None:
            return
        # Labelled series are looked up once and kept: labels() builds a key and searches on
        # every call, and this runs on every inward call. The count is bumped in place, as
        # RequestSeries.record does: the event loop is its only writer.
        series = self._series.get((upstream, outcome))
        if series is None:
            series = self._series[(upstream, outcome)] = (
                self._metrics.upstream_requests.labels(upstream, outcome),
                self._metrics.upstream_latency.labels(upstream),
            )
        series[0].value += 1
        series[1].observe(time.perf_counter() - started)

    def _count(self, upstream: str, outcome: str) -> None:
        if self._metrics is not None:
            self._metrics.upstream_requests.labels(upstream, outcome).inc()

    async def aclose(self) -> None:
        if self.credentials is not None:
            await self.credentials.aclose()
        await self.transport.aclose()
