"""Browser fixtures: Playwright driving Debian's chromium, offline.

Playwright's own browser download is never used: `scripts/bootstrap-debian` installs
chromium from deps/debian.txt and the fixtures launch it through ``executable_path``. The
flags keep chromium off the network (this machine's network is closed; background requests
would be refused by the dozen) and allow running as root. A failing test leaves a screenshot
of each of its pages under ``build/test-artifacts/``.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Page,
    Playwright,
    expect,
    sync_playwright,
)

ARTIFACTS = Path(__file__).resolve().parents[1] / "build" / "test-artifacts"
# An assertion waits up to 10 s for the page to show what it names (Playwright's default is 5 s):
# a live event crosses several processes, which a loaded 2-core CI machine can slow past 5 s.
expect.set_options(timeout=10_000)

CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def chromium_path() -> str:
    path = os.environ.get("TAILOR_CHROMIUM") or shutil.which("chromium")
    if path is None:
        raise RuntimeError("chromium is not installed: run scripts/bootstrap-debian")
    return path


# Per module, not per session: while Playwright's sync API is started, its event loop is the
# thread's running loop, and every async test after it (pytest-asyncio) would fail with
# "Runner.run() cannot be called from a running event loop".
@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(
        executable_path=chromium_path(), headless=True, args=CHROMIUM_FLAGS
    )
    yield browser
    browser.close()


@pytest.fixture
def context(browser: Browser, request: pytest.FixtureRequest) -> Iterator[BrowserContext]:
    """A fresh browser profile (cookies, storage) per test; screenshots of its pages are kept
    when the test fails."""
    ctx = browser.new_context()
    ctx.set_default_timeout(10_000)
    yield ctx
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid)
        for i, page in enumerate(ctx.pages):
            page.screenshot(path=str(ARTIFACTS / f"{name}-{i}.png"), full_page=True)
    ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> object:
    # Keeps each phase's report on the item so the context fixture knows the test failed.
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
