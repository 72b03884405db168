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

import time
from collections.abc import Callable, Iterator

import httpx
import pytest
from bffs.caller import signed_in

from platforms import another_bff, metric, started
from waveform.services import SERVICES
from waveform.supervisor import Platform

SCALE = 2000
WITHIN_S = 1.0


class Instance:
    """One BFF process as the test sees it: where to call it and its metrics."""

    def __init__(self, name: str, url: str, admin_url: str, path: str) -> None:
        self.name = name
        self.url = url
        self.admin_url = admin_url
        self.path = path  # the cached screen that shows alice's feed

    def upstream_calls(self) -> float:
        return metric(self.admin_url, "tailor_upstream_requests_total")


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    with started(
        tmp_path_factory,
        "waveform-invalidation",
        scale=SCALE,
        redis=True,
        components=[*SERVICES, "mobile", "web"],
    ) as p:
        yield p


@pytest.fixture(scope="module")
def second_mobile(platform: Platform) -> Iterator[Instance]:
    """Another mobile instance: the same config (same Redis), other ports."""
    with another_bff(platform, "mobile") as process:
        yield Instance("mobile-2", process.url, process.admin_url, "/v1/home")


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as client:
        yield client


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
        "mobile": signed_in(platform, http, "mobile", "alice").token,
        "web": signed_in(platform, http, "web", "alice").token,
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
        before = instance.upstream_calls()
        again = reader(instance)
        assert again.headers["x-cache"] == "hit", instance.name
        assert instance.upstream_calls() == before, instance.name


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
