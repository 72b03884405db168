"""The generated rules in a real Prometheus (Debian prometheus) scraping a real BFF's metrics:
requests through the BFF's pipeline, exposed on an admin listener, become the recorded error
ratio, and a burn far over the budget fires the fast page."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from slo_bff import PROFILE, build

from tailor import build_config
from tailor.govern.command import load_bff
from tailor.observe.admin import AdminServer
from tailor.slo.cli import render
from tailor.slo.rules import rules_file
from tailor.slo.spec import parse
from tailor.testing import CannedUpstreams, TestClient

PROMETHEUS = shutil.which("prometheus")
pytestmark = pytest.mark.skipif(PROMETHEUS is None, reason="Debian prometheus")
MODULE = "slo_bff"
READ = 'bff="kiosk",route_class="read",slo="availability"'
OBJECTIVES = {
    "read": {"availability": 0.999},
    "write": {"availability": 0.999},
    "auth": {"availability": 0.999},
}


def _free_port() -> int:
    with socket.socket() as probe:  # a port the kernel hands out, for the flag to name
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[tuple[str, Any]]:
    """A Prometheus with the generated rules, scraping a kiosk BFF's admin listener."""
    bff = build(build_config(PROFILE))
    admin = AdminServer("127.0.0.1", 0, bff.metrics.registry)
    admin.start()
    alerting = {"page": {"webhook_url": "http://h/p"}, "ticket": {"webhook_url": "http://h/t"}}
    spec = parse({"alerting": alerting,
                  "bffs": {"kiosk": {"app": MODULE, "classes": OBJECTIVES}}})  # fmt: skip
    (tmp_path / "slo.yml").write_text(render(rules_file(spec, {"kiosk": load_bff(MODULE)}), "t"))
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": ["slo.yml"],
        "scrape_configs": [
            {"job_name": "kiosk", "static_configs": [{"targets": [f"127.0.0.1:{admin.port}"]}]}
        ],
    }
    (tmp_path / "prometheus.yml").write_text(json.dumps(config))  # JSON is YAML
    port = _free_port()
    assert PROMETHEUS is not None
    process = subprocess.Popen(
        [PROMETHEUS, f"--config.file={tmp_path / 'prometheus.yml'}",
         f"--storage.tsdb.path={tmp_path / 'data'}", f"--web.listen-address=127.0.0.1:{port}",
         "--log.level=warn"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        yield f"http://127.0.0.1:{port}", bff
    finally:
        process.terminate()
        process.wait(timeout=15)
        admin.stop()


def _query(url: str, promql: str) -> list[dict[str, Any]]:
    """The instant vector ``promql`` evaluates to (empty while Prometheus is not up yet)."""
    try:
        with urllib.request.urlopen(
            f"{url}/api/v1/query?{urllib.parse.urlencode({'query': promql})}", timeout=5
        ) as response:
            result: list[dict[str, Any]] = json.loads(response.read())["data"]["result"]
            return result
    except OSError:
        return []


async def test_a_burn_through_a_real_bff_is_recorded_and_pages(
    prometheus: tuple[str, Any],
) -> None:
    url, bff = prometheus
    ratio: list[dict[str, Any]] = []
    firing: list[dict[str, Any]] = []
    deadline = time.monotonic() + 60
    async with TestClient(bff, CannedUpstreams()) as client:
        while not (ratio and firing) and time.monotonic() < deadline:
            # One request in four fails: 250x a 0.1% budget.
            for item in ("a", "b", "c", "broken"):
                await client.get(f"/v1/items/{item}")
            ratio = await asyncio.to_thread(_query, url, f"tailor:slo_error_ratio:rate5m{{{READ}}}")
            firing = await asyncio.to_thread(
                _query, url, f'ALERTS{{alertname="TailorSLOBurnFast",alertstate="firing",{READ}}}'
            )
            await asyncio.sleep(0.2)  # traffic paced between scrapes, not a synchronization
    assert firing, "TailorSLOBurnFast did not fire within 60 s"
    assert float(ratio[0]["value"][1]) == pytest.approx(0.25, abs=0.05)
    assert firing[0]["metric"]["severity"] == "page"
