"""A bounded load generator for rollout tests: per target, one client on a kept-alive
connection and one opening a new connection per request, each paced and capped.

A request fails when it gets no answer or a non-2xx one. One case is retried instead, as
HTTP clients do (RFC 9112 s9.3.1): a GET sent on a *reused* kept-alive connection that the
server closed before answering any byte of it (the server closes idle connections when it
drains; the request crossed the close on the wire). Those retries are counted apart.
"""

from __future__ import annotations

import http.client
import ssl
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

#: The errors that mean "the server closed this reused connection before answering".
_CLOSED = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)


@dataclass(frozen=True)
class Target:
    """One BFF route to call: ``GET https?://127.0.0.1:port/path`` with ``headers``."""

    name: str
    port: int
    path: str
    headers: dict[str, str]
    tls: ssl.SSLContext | None = None

    def connect(self) -> http.client.HTTPConnection:
        if self.tls is not None:
            return http.client.HTTPSConnection("127.0.0.1", self.port, timeout=10, context=self.tls)
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)


@dataclass
class Tally:
    ok: int = 0
    failed: int = 0
    retried: int = 0
    reasons: Counter[str] = field(default_factory=Counter)


class Load:
    """Run clients against ``targets`` until :meth:`stop` (or ``max_s``, or ``max_requests``
    per client), each at most ``rate`` requests a second.

    >>> with Load([target], rate=50) as load:  # doctest: +SKIP
    ...     roll(...)
    >>> load.tallies["mobile"].failed  # doctest: +SKIP
    0
    """

    def __init__(
        self,
        targets: list[Target],
        rate: float = 40.0,
        max_s: float = 120.0,
        max_requests: int = 5000,
    ) -> None:
        self.targets = targets
        self.interval = 1.0 / rate
        self.max_s = max_s
        self.max_requests = max_requests
        self.tallies = {t.name: Tally() for t in targets}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=run, args=(t,), daemon=True)
            for t in targets
            for run in (self._keep_alive, self._new_connections)
        ]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def wait_for(self, more: int, timeout: float = 30.0) -> None:
        """Until every target has had ``more`` successful answers than now (the load flows)."""
        end = time.monotonic() + timeout
        wanted = {name: t.ok + more for name, t in self.tallies.items()}
        while any(t.ok < wanted[name] for name, t in self.tallies.items()):
            if time.monotonic() > end:
                raise TimeoutError(f"load not flowing: {self.tallies}")
            self._stop.wait(0.05)

    @property
    def total(self) -> int:
        return sum(t.ok + t.failed for t in self.tallies.values())

    @property
    def failed(self) -> int:
        return sum(t.failed for t in self.tallies.values())

    def _paced(self) -> range:
        return range(self.max_requests)

    def _running(self, began: float) -> bool:
        # Pacing, not synchronization: wait out the interval unless stopped.
        return not self._stop.wait(self.interval) and time.monotonic() - began < self.max_s

    def _count(self, target: Target, error: str | None, retried: bool = False) -> None:
        with self._lock:
            tally = self.tallies[target.name]
            tally.retried += retried
            if error is None:
                tally.ok += 1
            else:
                tally.failed += 1
                tally.reasons[error] += 1

    def _keep_alive(self, target: Target) -> None:
        began = time.monotonic()
        conn = target.connect()
        reused = False
        for _ in self._paced():
            if not self._running(began):
                break
            try:
                error = _get(conn, target)
            except _CLOSED as exc:
                conn.close()
                conn = target.connect()
                if not reused:
                    self._count(target, f"{type(exc).__name__} on a new connection")
                    continue
                try:  # the server closed the idle connection as the request went out
                    self._count(target, _get(conn, target), retried=True)
                except (OSError, http.client.HTTPException) as again:
                    self._count(target, f"retry: {type(again).__name__}: {again}", retried=True)
                    conn.close()
                    conn = target.connect()
                reused = True
                continue
            except (OSError, http.client.HTTPException) as exc:
                self._count(target, f"{type(exc).__name__}: {exc}")
                conn.close()
                conn = target.connect()
                reused = False
                continue
            self._count(target, error)
            reused = conn.sock is not None  # None: closed as the server asked
        conn.close()

    def _new_connections(self, target: Target) -> None:
        began = time.monotonic()
        for _ in self._paced():
            if not self._running(began):
                break
            conn = target.connect()
            try:
                self._count(target, _get(conn, target, close=True))
            except (OSError, http.client.HTTPException) as exc:
                self._count(target, f"{type(exc).__name__}: {exc}")
            finally:
                conn.close()


def _get(conn: http.client.HTTPConnection, target: Target, close: bool = False) -> str | None:
    """One GET; None when answered 2xx, else why not."""
    headers = {**target.headers, **({"connection": "close"} if close else {})}
    conn.request("GET", target.path, headers=headers)
    response = conn.getresponse()
    response.read()
    if response.will_close:
        conn.close()  # the server said so (e.g. draining): the next request reconnects
    return None if 200 <= response.status < 300 else f"status {response.status}"
