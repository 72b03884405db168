"""The admin listener: ``/metrics`` and ``/healthz`` on their own port.

It is deliberately not the public listener, so metrics are unreachable through the edge. It runs
prometheus_client's WSGI app on a daemon thread inside the worker; a scrape costs that thread
some GIL time and nothing on the request path.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app

StartResponse = Callable[..., Any]


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return None


class AdminServer:
    """Serves metrics and health until :meth:`stop`.

    >>> server = AdminServer("127.0.0.1", 0, CollectorRegistry())
    >>> server.start()
    >>> server.port > 0
    True
    >>> server.stop()
    """

    def __init__(self, host: str, port: int, registry: CollectorRegistry) -> None:
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

        self._server: WSGIServer = make_server(host, port, app, handler_class=_QuietHandler)
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
