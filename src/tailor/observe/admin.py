"""The admin listener: ``/metrics`` and ``/healthz`` on their own port.

It is deliberately not the public listener, so metrics are unreachable through the edge. It runs
prometheus_client's WSGI app on a daemon thread inside the worker; a scrape costs that thread
some GIL time and nothing on the request path.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

from prometheus_client import CollectorRegistry, make_wsgi_app

from tailor.serve.inherited import inherited_listener

StartResponse = Callable[..., Any]


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return None


class _Server(WSGIServer):
    """A WSGI server on a socket it binds, or on one handed down (already listening)."""

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[WSGIRequestHandler],
        inherited: socket.socket | None,
    ) -> None:
        self._inherited = inherited
        super().__init__(address, handler)

    def server_bind(self) -> None:
        if self._inherited is None:
            super().server_bind()
            return
        self.socket.close()
        self.socket = self._inherited
        # Another build may take a connection this one was woken for: accept must not wait.
        self.socket.setblocking(False)
        host, port = self.socket.getsockname()[:2]
        self.server_address = (host, port)
        self.server_name, self.server_port = str(host), int(port)
        self.setup_environ()

    def server_activate(self) -> None:
        if self._inherited is None:
            super().server_activate()


class AdminServer:
    """Serves metrics and health until :meth:`stop`.

    ``inherit``: serve on the listening socket a supervisor handed down for ``host:port``
    (:func:`tailor.serve.inherited.inherited_listener`) when there is one, so the admin port
    stays the same across builds of a BFF (docs/rollout.md).

    >>> server = AdminServer("127.0.0.1", 0, CollectorRegistry())
    >>> server.start()
    >>> server.port > 0
    True
    >>> server.stop()
    """

    def __init__(
        self, host: str, port: int, registry: CollectorRegistry, *, inherit: bool = False
    ) -> None:
        metrics_app = make_wsgi_app(registry)

        def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
            path = environ.get("PATH_INFO", "")
            if path == "/healthz":
                start_response("200 OK", [("Content-Type", "application/json")])
                return [b'{"status":"ok"}']
            if path == "/metrics":
                return metrics_app(environ, start_response)  # type: ignore[no-any-return]
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found"]

        inherited = inherited_listener(host, port) if inherit and port else None
        self._server: WSGIServer = _Server((host, port), _QuietHandler, inherited)
        self._server.set_app(app)
        self.port: int = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        # shutdown() waits for serve_forever() to notice: on a listener never started it
        # would wait forever, so only a running one is asked.
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()
