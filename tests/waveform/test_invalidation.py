"""Event-driven cache invalidation across BFF instances, on the real platform.

Two mobile BFF instances and a web BFF share one redis-server. After bob posts a track,
alice's mobile home on both mobile instances and her web stream show it within 1 s, while
the 60 s TTL still absorbs unchanged reads (a second read is a cache hit and reaches no
upstream).

The post goes through the real event path only: tracks emits ``track.posted``, the rights
and media services build the new track's default rows from it (without them the catalog
hides the track, failing closed), and the stream service adds it to followers' feeds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from waveform.services import SERVICES
from waveform.supervisor import Platform, free_ports

SCALE = 2000
WITHIN_S = 1.0


class Instance:
    """One BFF process as the test sees it: where to call it and its metrics."""

    def __init__(self, name: str, url: str, admin_url: str, path: str) -> None:
        self.name = name
        self.url = url
        self.admin_url = admin_url
        self.path = path  # the cached screen that shows alice's feed

    def metric(self, http: httpx.Client, name: str, **labels: str) -> float:
        text = http.get(f"{self.admin_url}/metrics").text
        total = 0.0
        for line in text.splitlines():
            if not line.startswith(name + "{") and not line.startswith(name + " "):
                continue
            if all(f'{k}="{v}"' in line for k, v in labels.items()):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def upstream_calls(self, http: httpx.Client) -> float:
        return self.metric(http, "tailor_upstream_requests_total")


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    data_dir: Path = tmp_path_factory.mktemp("waveform-invalidation")
    with Platform(data_dir, ephemeral=True, scale=SCALE, redis=True,
                  components=[*SERVICES, "mobile", "web"]) as p:  # fmt: skip
        assert not p.failures, [f.describe() for f in p.failures.values()]
        yield p


@pytest.fixture(scope="module")
def second_mobile(platform: Platform) -> Iterator[Instance]:
    """Another mobile instance: the same config (same Redis), other ports."""
    port, admin = free_ports(2)
    config = platform.bff_config("mobile")
    config["listen"] = {**config["listen"], "port": port}  # type: ignore[dict-item]
    config["admin"] = {**config["admin"], "port": admin}  # type: ignore[dict-item]
    path = platform.data_dir / "bff-mobile-2.json"
    path.write_text(json.dumps(config))
    env = {**os.environ, **platform.components["mobile"].env}
    proc = subprocess.Popen(
        [sys.executable, "-m", "waveform.bffs.mobile", "--config", str(path)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    try:
        _await_health(f"http://127.0.0.1:{admin}/healthz", proc)
        yield Instance("mobile-2", f"http://127.0.0.1:{port}",
                       f"http://127.0.0.1:{admin}", "/v1/home")  # fmt: skip
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _await_health(url: str, proc: subprocess.Popen[bytes], within_s: float = 20.0) -> None:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the second mobile instance exited"
        try:
            with urllib.request.urlopen(url, timeout=0.5) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.05)
    raise AssertionError(f"{url} not healthy within {within_s} s")


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as client:
        yield client


def _login(http: httpx.Client, base: str, path: str, user: str) -> str:
    response = http.post(f"{base}{path}", json={"grant_type": "password", "username": user,
                                                "password": f"wave-{user}"})  # fmt: skip
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


@pytest.fixture(scope="module")
def instances(platform: Platform, second_mobile: Instance) -> list[Instance]:
    return [
        Instance("mobile-1", platform.url("mobile"), platform.admin_url("mobile"), "/v1/home"),
        second_mobile,
        Instance("web", platform.url("web"), platform.admin_url("web"), "/api/stream"),
    ]


@pytest.fixture(scope="module")
def reader(
    platform: Platform, http: httpx.Client, instances: list[Instance]
) -> Callable[[Instance], httpx.Response]:
    """alice's read of her feed screen on an instance."""
    tokens = {
        "mobile": _login(http, platform.url("mobile"), "/v1/auth/token", "alice"),
        "web": _login(http, platform.url("web"), "/api/auth/token", "alice"),
    }

    def read(instance: Instance) -> httpx.Response:
        token = tokens["web" if instance.name == "web" else "mobile"]
        response = http.get(f"{instance.url}{instance.path}",
                            headers={"authorization": f"Bearer {token}"})  # fmt: skip
        assert response.status_code == 200, response.text
        return response

    return read


def feed_track_ids(instance: Instance, response: httpx.Response) -> list[str]:
    body = response.json()
    if instance.name == "web":
        return [item["track_id"] for item in body["items"]]
    return [card["track"]["id"] for card in body["stream"]["items"]]


def post_track(platform: Platform, http: httpx.Client, track_id: str, owner: str) -> None:
    token = platform.internal_token("tracks", owner)
    response = http.post(
        f"{platform.url('tracks')}/tracks",
        json={"id": track_id, "owner_id": owner, "title": f"New {track_id}",
              "duration_ms": 180_000},
        headers={"authorization": f"Bearer {token}"},
    )  # fmt: skip
    assert response.status_code == 201, response.text


def wait_for_track(read: Callable[[], httpx.Response], instance: Instance, track_id: str,
                   posted_at: float) -> float:  # fmt: skip
    """Seconds from the post until ``track_id`` shows on ``instance`` (polled, bounded)."""
    while time.monotonic() - posted_at < 5.0:
        if track_id in feed_track_ids(instance, read()):
            return time.monotonic() - posted_at
        time.sleep(0.01)
    raise AssertionError(f"{track_id} not on {instance.name} within 5 s")


def test_a_second_read_is_a_cache_hit_that_reaches_no_upstream(
    http: httpx.Client, instances: list[Instance], reader: Callable[[Instance], httpx.Response]
) -> None:
    for instance in instances:
        reader(instance)  # warm
        before = instance.upstream_calls(http)
        again = reader(instance)
        assert again.headers["x-cache"] == "hit", instance.name
        assert instance.upstream_calls(http) == before, instance.name


def test_a_post_shows_on_every_instance_within_a_second_and_then_reads_hit_again(
    platform: Platform,
    http: httpx.Client,
    instances: list[Instance],
    reader: Callable[[Instance], httpx.Response],
) -> None:
    for instance in instances:
        reader(instance)
        assert reader(instance).headers["x-cache"] == "hit"  # cached before the post
    track_id = "t990001"
    posted_at = time.monotonic()
    post_track(platform, http, track_id, "u2")  # bob; alice follows him
    delays = {
        i.name: wait_for_track(lambda i=i: reader(i), i, track_id, posted_at) for i in instances
    }
    assert all(d < WITHIN_S for d in delays.values()), delays
    for instance in instances:
        again = reader(instance)
        assert again.headers["x-cache"] == "hit", instance.name
        assert track_id in feed_track_ids(instance, again)
