"""The generated routing tree in a real Alertmanager (Debian prometheus-alertmanager): alerts
posted to its API reach the receiver their severity names, and a page holds back the ticket
of the same SLO. Webhooks land in an HTTP server of the test's own, on loopback."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
import urllib.request
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tailor.slo.routing import alertmanager_config
from tailor.slo.spec import parse
from waiting import serving

ALERTMANAGER = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
pytestmark = pytest.mark.skipif(ALERTMANAGER is None, reason="Debian prometheus-alertmanager")
SLO = {"bff": "tv", "route_class": "read", "slo": "availability"}
OTHER_SLO = {"bff": "mobile", "route_class": "auth", "slo": "latency"}


class Webhooks:
    """Notifications received, by path (``/page``, ``/ticket``)."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, Any]]] = []
        self._changed = threading.Condition()
        webhooks = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                with webhooks._changed:
                    webhooks.received.append((self.path, body))
                    webhooks._changed.notify_all()
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def wait_for(self, done: Callable[[list[tuple[str, dict[str, Any]]]], bool]) -> None:
        with self._changed:
            assert self._changed.wait_for(lambda: done(self.received), timeout=30), self.received


@pytest.fixture
def webhooks() -> Iterator[Webhooks]:
    hooks = Webhooks()
    thread = threading.Thread(target=hooks.server.serve_forever, daemon=True)
    thread.start()
    yield hooks
    hooks.server.shutdown()
    hooks.server.server_close()


@pytest.fixture
def alertmanager(tmp_path: Path, webhooks: Webhooks) -> Iterator[str]:
    spec = parse({
        "alerting": {"page": {"webhook_url": f"{webhooks.url}/page"},
                     "ticket": {"webhook_url": f"{webhooks.url}/ticket"}, "group_wait_s": 0},
        "bffs": {"tv": {"app": "tv.app", "classes": {"read": {"availability": 0.99}}}},
    })  # fmt: skip
    config = tmp_path / "alertmanager.yml"
    config.write_text(json.dumps(alertmanager_config(spec)))  # JSON is YAML
    with socket.socket() as probe:  # a port the kernel hands out, for the flag to name
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert ALERTMANAGER is not None
    process = subprocess.Popen(
        [ALERTMANAGER, f"--config.file={config}", f"--storage.path={tmp_path / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=",
         "--log.level=warn"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        serving(f"{url}/-/ready", 20, process=process)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)
        assert process.stderr is not None
        process.stderr.close()


def _fire(url: str, alertname: str, severity: str, slo: dict[str, str] = SLO) -> None:
    alert = [{"labels": {"alertname": alertname, "severity": severity, **slo}}]
    request = urllib.request.Request(
        f"{url}/api/v2/alerts", data=json.dumps(alert).encode(), method="POST",
        headers={"content-type": "application/json"},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 200


def _alertnames(received: list[tuple[str, dict[str, Any]]], path: str) -> set[str]:
    return {a["labels"]["alertname"] for p, body in received if p == path for a in body["alerts"]}


def test_a_page_reaches_the_pager_and_a_ticket_the_queue(
    alertmanager: str, webhooks: Webhooks
) -> None:
    _fire(alertmanager, "TailorSLOBurnFast", "page")
    webhooks.wait_for(lambda got: "TailorSLOBurnFast" in _alertnames(got, "/page"))
    _fire(alertmanager, "TailorSLOBudgetTicket", "ticket", OTHER_SLO)
    webhooks.wait_for(lambda got: "TailorSLOBudgetTicket" in _alertnames(got, "/ticket"))
    assert "TailorSLOBurnFast" not in _alertnames(webhooks.received, "/ticket")


def test_a_page_holds_back_the_ticket_of_the_same_slo(
    alertmanager: str, webhooks: Webhooks
) -> None:
    _fire(alertmanager, "TailorSLOBurnSlow", "page")
    webhooks.wait_for(lambda got: "TailorSLOBurnSlow" in _alertnames(got, "/page"))
    _fire(alertmanager, "TailorSLOBudgetTicket", "ticket")
    # A ticket for another SLO, sent after it, arrives: the held-back one would have by then.
    _fire(alertmanager, "TailorSLOProbe", "ticket", OTHER_SLO)
    webhooks.wait_for(lambda got: "TailorSLOProbe" in _alertnames(got, "/ticket"))
    assert "TailorSLOBudgetTicket" not in _alertnames(webhooks.received, "/ticket")
