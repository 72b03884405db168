"""The dashboard's server: tailor's own HTTP/1.1 server, one page, its script and style, the
JSON behind them, and ``/healthz``.

The page is static; everything it shows comes from ``/api/board`` (:class:`~.view.Board`),
which it polls every ``refresh_s``. Asking for the board scrapes every BFF first unless the
last scrape is younger than a quarter of that, so what the page shows is never older than one
refresh; between polls the scraper keeps the history going on its own. The page loads
nothing from elsewhere and runs no inline code: its Content-Security-Policy allows only this
origin's script, style and JSON.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Mapping, Sequence
from importlib.resources import files

from tailor.dashboard.scrape import Scraper
from tailor.dashboard.view import Board, board
from tailor.http import JSON_CONTENT_TYPE, Request, Response, json_response
from tailor.problem import problem_response
from tailor.serve.http1 import Http1Server, ServerSettings

#: Allows this origin's script, style and fetches, and nothing else (no inline code).
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_SECURITY_HEADERS = [
    ("content-security-policy", CSP),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("cache-control", "no-store"),
]
_STATIC = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/dashboard.js": ("dashboard.js", "text/javascript; charset=utf-8"),
    "/dashboard.css": ("dashboard.css", "text/css; charset=utf-8"),
}


class Dashboard:
    """The dashboard of some BFFs' admin endpoints, answering requests with :meth:`handle`.

    >>> dashboard = Dashboard({"mobile": "http://127.0.0.1:8181"}, refresh_s=2.0)
    >>> response = asyncio.run(dashboard.handle(Request("GET", "/healthz", "", {}, "")))
    >>> response.status, response.body
    (200, b'{"status":"ok"}')
    """

    def __init__(
        self,
        targets: Mapping[str, str],
        *,
        refresh_s: float = 5.0,
        windows_s: Sequence[float] = (60.0, 300.0),
        objective: float = 0.999,
        scraper: Scraper | None = None,
    ) -> None:
        self.targets = dict(targets)
        self.refresh_s = refresh_s
        self.windows_s = sorted(windows_s)
        self.objective = objective
        self.scraper = scraper or Scraper(
            self.targets, keep_s=self.windows_s[-1] + 2 * refresh_s, timeout_s=refresh_s
        )
        static = files("tailor.dashboard") / "static"
        self._static = {
            path: (static.joinpath(name).read_bytes(), kind)
            for path, (name, kind) in _STATIC.items()
        }

    async def handle(self, request: Request) -> Response:
        if request.method not in ("GET", "HEAD"):
            return problem_response(
                405, f"{request.method} is not allowed", headers=(("allow", "GET, HEAD"),)
            )
        if request.path == "/healthz":
            return Response(200, b'{"status":"ok"}', [JSON_CONTENT_TYPE])
        if request.path == "/api/board":
            response: Response = json_response(await self.board())
        elif request.path in self._static:
            body, kind = self._static[request.path]
            response = Response(200, body, [("content-type", kind)])
        else:
            return problem_response(404, f"no page at {request.path}")
        response.headers.extend(_SECURITY_HEADERS)
        return response

    async def board(self) -> Board:
        """The board as of now (scraping first if the last scrape is a quarter refresh old)."""
        await self.scraper.fresh(self.refresh_s / 4)
        return board(
            self.targets,
            self.scraper.histories,
            windows_s=self.windows_s,
            objective=self.objective,
            refresh_s=self.refresh_s,
            now=time.time(),
        )


async def serve(
    dashboard: Dashboard, host: str, port: int, ready: asyncio.Event | None = None
) -> None:
    """Serve ``dashboard`` on ``host:port`` and scrape in the background until SIGTERM/SIGINT."""
    loop = asyncio.get_running_loop()
    server = Http1Server(dashboard.handle, ServerSettings())
    await server.start(host=host, port=port)
    scraping = loop.create_task(dashboard.scraper.run(dashboard.refresh_s))
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    print(f"dashboard: http://{host}:{server.port}/", flush=True)
    if ready is not None:
        ready.set()
    try:
        await stop.wait()
    finally:
        scraping.cancel()
        await server.close(grace_s=1.0)
        await dashboard.scraper.aclose()
