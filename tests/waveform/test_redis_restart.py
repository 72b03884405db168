"""Redis killed (-9) and restarted by the supervisor while browsers use the web BFF: the
sessions survive (Redis's append-only file), nobody is logged out, no address is locked
out, and the BFF reports the outage and reconnects (its client, its invalidation
subscriber) on its own."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from platforms import metric
from waiting import until
from waveform.supervisor import Platform

COOKIE = "waveform-session"  # the plain-http demo name (docs/security.md)
USERS = ("alice", "bob", "carol", "dave")
AFTER = 10  # requests each user makes once Redis is back
MAX_REQUESTS = 2000  # per user: the load is bounded whatever happens


@dataclass
class Browser:
    """One user's session and everything the BFF answered it."""

    session_id: str
    before: list[int] = field(default_factory=list)  # until Redis is back
    after: list[int] = field(default_factory=list)


@dataclass
class Outage:
    """What the test observed around one Redis restart."""

    browsers: list[Browser]
    login_after: httpx.Response
    platform: Platform


def login(base: str, user: str) -> httpx.Response:
    # No shared cookie jar: a login presenting another user's cookie would end that session.
    return httpx.post(
        f"{base}/api/session",
        json={"username": user, "password": f"wave-{user}"},
        headers={"origin": base},
        timeout=10,
    )


@pytest.fixture(scope="module")
def outage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Outage]:
    data_dir: Path = tmp_path_factory.mktemp("redis-restart")
    # Redis stays down 2 s: longer than the BFF's health check period (1 s ping).
    with Platform(
        data_dir,
        ephemeral=True,
        scale=200,
        redis=True,
        components=["tokens", "accounts", "users", "web"],
        restart_backoff=(2.0, 4.0),
    ) as p:
        assert not p.failures, [f.describe() for f in p.failures.values()]
        base = p.url("web")
        browsers = []
        for user in USERS:
            response = login(base, user)
            assert response.status_code == 200, response.text
            browsers.append(Browser(response.cookies[COOKIE]))
        back = threading.Event()

        def browse(browser: Browser) -> None:
            with httpx.Client(timeout=10) as client:
                cookie = {"cookie": f"{COOKIE}={browser.session_id}"}
                for _ in range(MAX_REQUESTS):
                    phase = browser.after if back.is_set() else browser.before
                    phase.append(client.get(f"{base}/api/me", headers=cookie).status_code)
                    if len(browser.after) >= AFTER:
                        return

        threads = [threading.Thread(target=browse, args=(b,)) for b in browsers]
        for thread in threads:
            thread.start()
        until(lambda: all(b.before.count(200) >= 3 for b in browsers), 20, "load under way")
        p.kill("redis", signal.SIGKILL)
        p.wait_for_restart("redis")
        back.set()
        for thread in threads:
            thread.join(timeout=60)
        yield Outage(browsers, login(base, "erin"), p)


def test_the_load_spanned_the_outage(outage: Outage) -> None:
    assert all(503 in b.before for b in outage.browsers), [b.before for b in outage.browsers]


def test_no_user_is_logged_out_by_a_redis_restart(outage: Outage) -> None:
    for browser in outage.browsers:
        assert set(browser.before) <= {200, 503}, browser.before
        assert browser.after == [200] * AFTER, browser.after


def test_no_address_is_locked_out_by_a_redis_restart(outage: Outage) -> None:
    assert outage.login_after.status_code == 200, outage.login_after.text
    assert not any(429 in b.before + b.after for b in outage.browsers)


def test_the_web_bff_logs_that_redis_went_away_and_came_back(outage: Outage) -> None:
    def log() -> str:
        return "\n".join(outage.platform.stderr_tail("web", 200))

    until(lambda: "answers again" in log(), 5, "the web BFF logging Redis back")
    assert "is unreachable" in log(), log()[-3000:]


def test_the_web_bff_counts_the_outage_on_its_admin_port(outage: Outage) -> None:
    admin = outage.platform.admin_url("web")
    assert metric(admin, "tailor_redis_lost_total") >= 1
    until(lambda: metric(admin, "tailor_redis_up") == 1, 5, "tailor_redis_up back to 1")


def test_the_cache_invalidation_subscriber_subscribes_again(outage: Outage) -> None:
    admin = outage.platform.admin_url("web")
    name = "tailor_cache_invalidation_connects_total"
    until(lambda: metric(admin, name, outcome="connected") >= 2, 15, "a second subscription")
