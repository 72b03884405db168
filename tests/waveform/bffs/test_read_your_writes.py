"""Read-your-writes through the edge caches, on a platform with a real redis-server: the
caller's cached screens show a command on the next reads, because the service that made the
change names the views it changed on ``tailor:invalidate`` and every BFF instance purges
them (the mobile home is cached 60 s per user, so without the purge it would not)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from platforms import started
from seeded import open_tracks

from waveform.services import SERVICES
from waveform.supervisor import Platform

from .caller import Caller, signed_in
from .commands_helpers import send

SCALE = 500
WITHIN_S = 1.0
#: A track anyone may see in this world (past the seed's fixture tracks other tests use).
TRACK = next(t for t in open_tracks(SCALE) if int(t[1:]) > 10)


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    with started(
        tmp_path_factory,
        "waveform-ryw",
        scale=SCALE,
        redis=True,
        components=[*SERVICES, "mobile", "web"],
    ) as p:
        yield p


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as c:
        yield c


def eventually_shows(caller: Caller, path: str, text: str) -> float:
    """Seconds until a read of ``path`` contains ``text`` (bounded by WITHIN_S)."""
    started = time.monotonic()
    while time.monotonic() - started < WITHIN_S:
        if text in caller.get(path).text:
            return time.monotonic() - started
    raise AssertionError(f"{path} did not show {text!r} within {WITHIN_S} s")


def test_a_playlist_made_on_web_shows_on_the_callers_cached_mobile_home(
    shared: Platform, client: httpx.Client
) -> None:
    mobile = signed_in(shared, client, "mobile", "carol")
    web = signed_in(shared, client, "web", "carol")
    assert mobile.get("/v1/home").status_code == 200  # cached now, for 60 s
    title = f"made on the web {time.time_ns()}"
    created = send(web, "POST", "/api/playlists", {"title": title})
    assert created.status_code == 201
    eventually_shows(mobile, "/v1/home", title)


def test_a_like_on_mobile_shows_on_the_callers_next_web_read(
    shared: Platform, client: httpx.Client
) -> None:
    mobile = signed_in(shared, client, "mobile", "erin")
    web = signed_in(shared, client, "web", "erin")
    assert send(mobile, "DELETE", f"/v1/tracks/{TRACK}/like").status_code == 200
    assert web.get(f"/api/tracks/{TRACK}").json()["liked"] is False
    assert send(mobile, "POST", f"/v1/tracks/{TRACK}/like").status_code == 200
    assert web.get(f"/api/tracks/{TRACK}").json()["liked"] is True  # the very next read
