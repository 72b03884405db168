"""Sending ended spans to an OTLP/HTTP collector, off the request path.

A request only appends its spans to a bounded queue; a thread of the worker's own takes
them in batches, encodes them (:mod:`tailor.trace.otlp`) and POSTs them to
``tracing.endpoint``. A full queue drops the span and counts it
(``tailor_trace_spans_dropped_total{reason="queue_full"}``); a batch the collector does not
take (refused, unreachable, too slow, a non-2xx answer) is dropped and counted
(``reason="export_failed"``), never retried: a collector that is down must cost the BFF
nothing but the count. So an unreachable collector never slows or fails a request.
"""

from __future__ import annotations

import asyncio
import http.client
import os
import threading
import weakref
from collections import deque
from urllib.parse import urlsplit

from prometheus_client import CollectorRegistry

from tailor.observe.metrics import Tally
from tailor.trace.otlp import OtlpEncoder
from tailor.trace.span import AnySpan

_CONTENT_TYPE = {"content-type": "application/x-protobuf"}
_LIVE: weakref.WeakSet[SpanExporter] = weakref.WeakSet()


class SpanExporter:
    """A bounded queue of ended spans and the thread that ships them.

    >>> exporter = SpanExporter("http://127.0.0.1:9/v1/traces", OtlpEncoder("demo"),
    ...                         queue_size=1, start=False)
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
        start: bool = True,
    ) -> None:
        url = urlsplit(endpoint)
        self._https = url.scheme == "https"
        self._host = url.hostname or "127.0.0.1"
        self._port = url.port or (443 if self._https else 80)
        self._path = url.path or "/v1/traces"
        self._encoder = encoder
        self._limit = queue_size
        self._batch = batch_size
        self._interval = interval_s
        self._timeout = timeout_s
        # One item per request (its spans); the bound is on spans. Two counters with one
        # writer each (the loop adds, the exporter's thread takes), so no lock.
        self._queue: deque[list[AnySpan]] = deque()
        self._added = 0
        self._taken = 0
        self._wake = threading.Event()
        self._flushes: deque[threading.Event] = deque()
        self._closing = False
        self._autostart = start
        self._thread: threading.Thread | None = None
        self._conn: http.client.HTTPConnection | None = None
        # Plain-number series (Tally): each has one writer, the loop (queue_full) or the
        # exporter's thread (export_failed, exported), so no lock is taken on the way.
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
        if self._thread is None and self._autostart:
            self._start()
        if pending < self._batch <= pending + n:
            self._wake.set()  # a full batch goes now, not at the next interval

    def flush(self, timeout_s: float = 5.0) -> bool:
        """Wait until every span queued before this call has been sent (or dropped)."""
        done = threading.Event()
        self._flushes.append(done)
        if self._thread is None:
            self._start()
        self._wake.set()
        return done.wait(timeout_s)

    def close(self, timeout_s: float = 1.0) -> None:
        """Send what is queued (within ``timeout_s``) and stop the thread."""
        self._closing = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    async def run(self) -> None:
        """A BFF background job: nothing to do while the BFF runs; at shutdown, the last
        spans are sent."""
        try:
            await asyncio.get_running_loop().create_future()
        finally:
            self.close()

    # -- the exporter's thread ------------------------------------------------------------

    def _start(self) -> None:
        self._closing = False
        self._thread = threading.Thread(target=self._loop, name="tailor-trace-export", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while True:
            self._wake.wait(self._interval)
            self._wake.clear()
            waiting = [self._flushes.popleft() for _ in range(len(self._flushes))]
            self._drain()
            for done in waiting:
                done.set()
            if self._closing:
                break
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _drain(self) -> None:
        queue, popleft, size = self._queue, self._queue.popleft, self._batch
        while queue:
            batch: list[AnySpan] = []
            while queue and len(batch) < size:
                batch += popleft()
            self._taken += len(batch)
            self._send(batch)

    def _send(self, batch: list[AnySpan]) -> None:
        try:
            body = self._encoder.encode(batch)
            conn = self._conn
            if conn is None:
                cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
                conn = self._conn = cls(self._host, self._port, timeout=self._timeout)
            conn.request("POST", self._path, body, _CONTENT_TYPE)
            response = conn.getresponse()
            response.read()
            accepted = 200 <= response.status < 300
        except (OSError, http.client.HTTPException, ValueError):
            accepted = False
        if accepted:
            self.exported.inc(len(batch))
            return
        self.dropped_failed.inc(len(batch))
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _after_fork(self) -> None:
        # The thread did not survive the fork; the parent's spans are the parent's.
        self._thread = None
        self._conn = None
        self._queue.clear()
        self._added = self._taken = 0
        self._flushes.clear()
        self._wake = threading.Event()


def _reset_after_fork() -> None:
    for exporter in list(_LIVE):
        exporter._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)
