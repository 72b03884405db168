"""examples/client_bff.py: a BFF serving its browser client (tailor.static), checked
in-process and in chromium against the example started as docs/web-client.md starts it."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import client_bff
import pytest
from playwright.sync_api import ConsoleMessage, Page, expect

from tailor import build_config
from tailor.static import DEFAULT_CSP
from tailor.testing import call

SERVING = re.compile(r"serving on 127\.0\.0\.1:(\d+)")


async def test_the_page_links_its_assets_by_hashed_name() -> None:
    bff = client_bff.create(build_config(client_bff.PROFILE))
    page = await call(bff, "GET", "/")
    assert page.header("content-security-policy") == DEFAULT_CSP
    assert re.search(rb'src="/assets/app\.[0-9a-f]{12}\.js"', page.body)
    await bff.shutdown()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    config = Path(tmp_path_factory.mktemp("client")) / "client.json"
    config.write_text(json.dumps({"listen": {"port": 0}}))
    proc = subprocess.Popen(
        [sys.executable, "client_bff.py", "--config", str(config)],
        cwd=Path(client_bff.__file__).parent,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    try:
        for line in proc.stderr:
            found = SERVING.search(line)
            if found:
                break
        else:
            raise AssertionError(f"client_bff.py exited with {proc.wait()} before serving")
        threading.Thread(target=proc.stderr.read, daemon=True).start()
        yield f"http://127.0.0.1:{found.group(1)}"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)


def test_the_client_runs_in_chromium_under_its_policy(page: Page, served: str) -> None:
    errors: list[str] = []

    def console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(message.text)

    page.on("console", console)
    page.goto(f"{served}/")
    expect(page.get_by_role("status")).to_have_text("hello, ada")  # module, import, fetch
    assert errors == []
