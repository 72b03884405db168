"""Sending ended spans to an OTLP/HTTP collector, off the request path, on the worker's loop.

A request only appends its spans to a bounded queue. The exporter's background job, on the
worker's own event loop, takes them in batches once a batch is full or every
``tracing.export_interval_s``, encodes each (:mod:`tailor.trace.otlp`) and POSTs it over a
keep-alive connection of tailor's own HTTP/1.1 client (:mod:`tailor.upstream.http1_transport`),
awaiting the answer as any task awaits I/O. There is no thread: a thread of its own would share
the worker's one interpreter lock with the loop, and every hand-over of it (a wake-up per
batch, a switch per socket call) costs the worker's CPU beside the encoding itself
(docs/observability.md).

A full queue drops the span and counts it (``tailor_trace_spans_dropped_total{reason=
"queue_full"}``); a batch the collector does not take (refused, unreachable, too slow, a
non-2xx answer) is dropped and counted (``reason="export_failed"``), never retried: a collector
that is down must cost the BFF nothing but the count. One export is in flight at a time, so a
collector that never answers holds one batch for ``export_timeout_s`` while the queue fills and
drops; no request ever waits on it.
"""

from __future__ import annotations

import asyncio
import http.client
import os
import time
import weakref
from collections import deque
from urllib.parse import urlsplit

from prometheus_client import CollectorRegistry

from tailor.observe.metrics import Tally
from tailor.trace.otlp import OtlpEncoder
from tailor.trace.span import AnySpan
from tailor.upstream.http1_transport import Http1Transport
from tailor.upstream.transport import Transport, UpstreamRequest

_CONTENT_TYPE = ("content-type", "application/x-protobuf")
#: The name an export's failures are raised under (the client's errors name an upstream).
COLLECTOR = "trace-collector"
_LIVE: weakref.WeakSet[SpanExporter] = weakref.WeakSet()


class SpanExporter:
    """A bounded queue of ended spans and the background job that ships them.

    >>> exporter = SpanExporter("http://127.0.0.1:9/v1/traces", OtlpEncoder("demo"), queue_size=1)
    >>> from tailor.trace.span import Span
    >>> for _ in range(3): exporter.submit([Span("a" * 32, "b" * 16, "", "x", 2, 0, {})])
    >>> exporter.queued, exporter.dropped_full.value
    (1, 2.0)
    """

    def __init__(
        self,
        endpoint: str,
        encoder: OtlpEncoder,
        *,
        queue_size: int = 8192,
        batch_size: int = 512,
        interval_s: float = 1.0,
        timeout_s: float = 2.0,
        registry: CollectorRegistry | None = None,
        transport: Transport | None = None,
    ) -> None:
        self._endpoint = endpoint
        self._encoder = encoder
        self._limit = queue_size
        self._batch = batch_size
        self._interval = interval_s
        self._timeout = timeout_s
        self._transport: Transport = transport or Http1Transport(
            max_connections=1, connect_timeout_s=timeout_s
        )
        # One item per request (its spans); the bound is on spans.
        self._queue: deque[list[AnySpan]] = deque()
        self._added = 0
        self._taken = 0
        # What the background job waits on between exports: resolved by the interval's timer,
        # or early by the submit that fills a batch.
        self._due: asyncio.Future[None] | None = None
        # Plain-number series (Tally): the loop is their one writer.
        dropped = Tally(
            "tailor_trace_spans_dropped",
            "Spans not exported: queue_full (the queue was at tracing.queue_size) or "
            "export_failed (the collector did not take the batch).",
            ["reason"],
            registry=registry,
        )
        self.dropped_full = dropped.labels("queue_full")
        self.dropped_failed = dropped.labels("export_failed")
        self.exported = Tally(
            "tailor_trace_spans_exported",
            "Spans the collector accepted.",
            [],
            registry=registry,
        ).labels()
        _LIVE.add(self)

    @property
    def queued(self) -> int:
        """Spans waiting to be sent."""
        return self._added - self._taken

    def submit(self, spans: list[AnySpan]) -> None:
        """Queue a request's ended spans, or drop them (counted) when the queue is full.
        Never waits."""
        n = len(spans)
        pending = self._added - self._taken
        if pending + n > self._limit:
            self.dropped_full.inc(n)
            return
        self._queue.append(spans)
        self._added += n
        if pending < self._batch <= pending + n and self._due is not None:
            _resolve(self._due)  # a full batch goes now, not at the next interval

    async def flush(self) -> None:
        """Send every queued span, also those queued meanwhile, a batch at a time, each POST
        awaited (or dropped, counted, on failure)."""
        while self._queue:
            await self._send_queued(self.queued)

    async def run(self) -> None:
        """A BFF background job: export once a batch is full, else every interval; at
        shutdown (cancelled), send what is left within a second."""
        loop = asyncio.get_running_loop()
        try:
            while True:
                if self.queued < self._batch:
                    self._due = due = loop.create_future()
                    timer = loop.call_later(self._interval, _resolve, due)
                    await due
                    timer.cancel()
                # What is queued now, not what comes while it is sent: that waits for its own
                # full batch, else every export would leave a few spans to send at once.
                await self._send_queued(self.queued)
        finally:
            self._due = None
            self.close()
            await self._transport.aclose()  # the collector's keep-alive connection

    async def _send_queued(self, spans: int) -> None:
        while spans > 0 and self._queue:
            batch = self._take()
            spans -= len(batch)
            await self._send(batch)

    def _take(self) -> list[AnySpan]:
        """The next batch: whole requests' spans from the queue, up to ``batch_size`` or just
        past it."""
        queue, popleft, size = self._queue, self._queue.popleft, self._batch
        batch: list[AnySpan] = []
        while queue and len(batch) < size:
            batch += popleft()
        self._taken += len(batch)
        return batch

    def close(self, timeout_s: float = 1.0) -> None:
        """Send what is queued, blocking for at most ``timeout_s``: at shutdown, when the loop
        may not run again to await an export. What does not fit in the time is dropped."""
        deadline = time.monotonic() + timeout_s
        while self._queue:
            batch = self._take()
            left = deadline - time.monotonic()
            try:
                body = self._encoder.encode(batch)
            except (TypeError, ValueError, OverflowError):  # a span it cannot encode
                self._count(batch, False)
                continue
            self._count(batch, left > 0 and self._post_blocking(body, left))

    async def _send(self, batch: list[AnySpan]) -> None:
        try:
            request = UpstreamRequest(
                COLLECTOR,
                "POST",
                self._endpoint,
                [_CONTENT_TYPE],
                self._timeout,
                body=self._encoder.encode(batch),  # a batch it cannot encode is lost, counted
                idempotent=False,
            )
            response = await self._transport.send(request)
        except asyncio.CancelledError:
            self._count(batch, False)
            raise
        except Exception:  # the client's UpstreamError, or anything: the job must go on
            self._count(batch, False)
        else:
            self._count(batch, 200 <= response.status < 300)

    def _count(self, batch: list[AnySpan], accepted: bool) -> None:
        (self.exported if accepted else self.dropped_failed).inc(len(batch))

    def _post_blocking(self, body: bytes, timeout_s: float) -> bool:
        url = urlsplit(self._endpoint)
        https = url.scheme == "https"
        cls = http.client.HTTPSConnection if https else http.client.HTTPConnection
        conn = cls(url.hostname or "127.0.0.1", url.port, timeout=timeout_s)
        try:
            conn.request("POST", url.path or "/", body, dict([_CONTENT_TYPE]))
            response = conn.getresponse()
            response.read()
            return 200 <= response.status < 300
        except (OSError, http.client.HTTPException):
            return False
        finally:
            conn.close()

    def _after_fork(self) -> None:
        # The parent's spans are the parent's. (The client starts a new pool on the child's
        # loop by itself.)
        self._queue.clear()
        self._added = self._taken = 0
        self._due = None


def _resolve(due: asyncio.Future[None]) -> None:
    if not due.done():
        due.set_result(None)


def _reset_after_fork() -> None:
    for exporter in list(_LIVE):
        exporter._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)
