"""A track posted through ``POST /tracks`` becomes visible: rights and media build their
default rows from the ``track.posted`` domain event, and the stream service names followers'
feeds again once the track is visible, whatever order the consumers ran in (tracks, rights,
media, stream, catalog and the token service as real processes, with a real redis-server)."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import msgspec
import pytest
import redis

from platforms import started
from waiting import until
from waveform.seed import World
from waveform.services.events import CHANGES_CHANNEL, DOMAIN_STREAM
from waveform.services.media import default_media
from waveform.services.rights import NO_LABEL
from waveform.supervisor import Platform

from .conftest import ServiceTokens

SCALE = 200


@pytest.fixture(scope="module")
def posting(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    components = ["tokens", "tracks", "rights", "media", "stream", "catalog"]
    with started(
        tmp_path_factory, "waveform-posted", scale=SCALE, redis=True, components=components
    ) as p:
        yield p


@pytest.fixture(scope="module")
def client(posting: Platform) -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10, auth=ServiceTokens(posting)) as c:
        yield c


def _post(p: Platform, c: httpx.Client, track_id: str, private: bool = False, label: str = ""
          ) -> None:  # fmt: skip
    new = {"id": track_id, "owner_id": "u2", "title": f"New {track_id}",
           "duration_ms": 180_000, "private": private, "label": label}  # fmt: skip
    response = c.post(f"{p.url('tracks')}/tracks", json=new)
    assert response.status_code == 201, response.text


def _eventually(probe: Callable[[], httpx.Response], within_s: float = 5.0) -> httpx.Response:
    deadline = time.monotonic() + within_s
    while True:
        response = probe()
        if response.status_code == 200 or time.monotonic() > deadline:
            return response
        time.sleep(0.01)


def test_a_posted_track_gets_worldwide_rights_held_by_its_poster(
    posting: Platform, client: httpx.Client
) -> None:
    _post(posting, client, "t980001")
    rights = _eventually(lambda: client.get(f"{posting.url('rights')}/rights/t980001"))
    assert rights.status_code == 200, rights.text
    body = rights.json()
    assert (body["geo_restricted"], body["allowed_countries"]) == (False, [])
    assert (body["label"], body["rights_holder_id"]) == (NO_LABEL, "u2")


def test_a_track_posted_by_a_label_gets_rights_under_that_label_from_the_event(
    posting: Platform, client: httpx.Client
) -> None:
    _post(posting, client, "t980006", label="Globex Music")
    rights = _eventually(lambda: client.get(f"{posting.url('rights')}/rights/t980006"))
    assert rights.status_code == 200, rights.text
    assert rights.json()["label"] == "Globex Music"


def test_a_posted_track_gets_media_derived_from_its_id(
    posting: Platform, client: httpx.Client
) -> None:
    _post(posting, client, "t980002")
    media = _eventually(lambda: client.get(f"{posting.url('media')}/media/t980002"))
    assert media.status_code == 200, media.text
    assert media.json() == default_media("t980002")


def test_a_posted_track_is_visible_in_the_catalog(posting: Platform, client: httpx.Client) -> None:
    _post(posting, client, "t980003")
    seen = _eventually(lambda: client.get(f"{posting.url('catalog')}/catalog/tracks/t980003"))
    assert seen.status_code == 200, seen.text
    assert seen.json()["media"]["stream_url"].endswith("/t980003.opus")


def test_a_replayed_event_changes_nothing(posting: Platform, client: httpx.Client) -> None:
    _post(posting, client, "t980004")
    url = f"{posting.url('rights')}/rights/t980004"
    first = _eventually(lambda: client.get(url)).json()
    # The same fact delivered again (with a label, to see whether it overwrites), then a
    # marker event: once the marker is handled, the replay was handled before it.
    replay: dict[str, Any] = {"track_id": "t980004", "owner_id": "u9", "label": "Acme Records",
                              "created_at": "2030-01-01T00:00:00Z", "private": "0"}  # fmt: skip
    marker = {**replay, "track_id": "t980005"}
    with redis.Redis.from_url(posting.redis.url) as r:
        for data in (replay, marker):
            r.xadd(DOMAIN_STREAM, {"type": "track.posted", "source": "test",
                                   "data": msgspec.json.encode(data)})  # fmt: skip
    marked = _eventually(lambda: client.get(f"{posting.url('rights')}/rights/t980005"))
    assert marked.json()["label"] == "Acme Records"  # the event's label is taken when new
    assert client.get(url).json() == first


def test_media_for_seeded_ids_is_what_the_seed_holds(posting: Platform) -> None:
    world = World(seed=posting.seed, scale=SCALE)
    assert [default_media(m["track_id"]) for m in world.media[:30]] == world.media[:30]


class Notices:
    """The change notices on ``tailor:invalidate``, read from a real Redis subscription."""

    def __init__(self, pubsub: redis.client.PubSub) -> None:
        self.pubsub = pubsub
        self.seen: list[dict[str, Any]] = []

    def until(self, done: Callable[[list[dict[str, Any]]], bool], within_s: float = 5.0) -> bool:
        deadline = time.monotonic() + within_s
        while not done(self.seen):
            if time.monotonic() > deadline:
                return False
            message = self.pubsub.get_message(timeout=0.05)  # a bounded wait, not a sleep
            if message is not None and message["type"] == "message":
                self.seen.append(msgspec.json.decode(message["data"]))
        return True

    def drain(self) -> list[dict[str, Any]]:
        """Everything already delivered, without waiting for more."""
        while (message := self.pubsub.get_message(timeout=0)) is not None:
            if message["type"] == "message":
                self.seen.append(msgspec.json.decode(message["data"]))
        return self.seen


def _feeds(notice: dict[str, Any]) -> set[str]:
    return (
        {t for t in notice["tags"] if t.startswith("feed:")}
        if notice["type"] == "feed.changed"
        else set()
    )


def _in_feed(p: Platform, c: httpx.Client, follower: str, track_id: str) -> bool:
    body = c.get(f"{p.url('stream')}/stream/{follower}", params={"limit": 50}).json()
    return any(item["track_id"] == track_id for item in body["items"])


@pytest.mark.parametrize(("last", "track_id"), [("rights", "t980010"), ("media", "t980011")])
def test_followers_feeds_are_named_once_the_post_is_visible_whichever_consumer_runs_last(
    posting: Platform, client: httpx.Client, last: str, track_id: str
) -> None:
    world = World(seed=posting.seed, scale=SCALE)
    followers = {f"feed:{f['follower_id']}" for f in world.follows if f["followee_id"] == "u2"}
    first = "media" if last == "rights" else "rights"

    def created(kind: str) -> Callable[[dict[str, Any]], bool]:
        return lambda n: n["type"] == f"{kind}.created" and f"track:{track_id}" in n["tags"]

    with redis.Redis.from_url(posting.redis.url) as r, r.pubsub() as pubsub:
        pubsub.subscribe(CHANGES_CHANNEL)
        assert pubsub.get_message(timeout=5)["type"] == "subscribe"
        notices = Notices(pubsub)
        posting.kill(last, signal.SIGSTOP)  # this one handles the post after the others
        try:
            _post(posting, client, track_id)
            # The stream holds the post and the other service has its row; the track is
            # still hidden, so no feed has been named.
            assert notices.until(lambda seen: any(map(created(first), seen)))
            follower = sorted(followers)[0].removeprefix("feed:")
            until(lambda: _in_feed(posting, client, follower, track_id), 5,
                  "the stream adding the post", pause_s=0.01)  # fmt: skip
            assert not any(_feeds(n) for n in notices.drain()), notices.seen
        finally:
            posting.kill(last, signal.SIGCONT)

        def named_after_last(seen: list[dict[str, Any]]) -> bool:
            at = next((i for i, n in enumerate(seen) if created(last)(n)), None)
            return at is not None and any(_feeds(n) == followers for n in seen[at + 1 :])

        assert notices.until(named_after_last), notices.seen


def _domain_events(r: redis.Redis, after: str, type_: str, track_id: str) -> list[dict[str, Any]]:
    found = r.xrange(DOMAIN_STREAM, min=f"({after}")
    datas = [msgspec.json.decode(f[b"data"]) for _id, f in found if f[b"type"] == type_.encode()]
    return [d for d in datas if d.get("track_id") == track_id]


def test_a_post_is_published_once_when_it_becomes_visible(
    posting: Platform, client: httpx.Client
) -> None:
    track_id = "t980012"
    world = World(seed=posting.seed, scale=SCALE)
    follower = next(f["follower_id"] for f in world.follows if f["followee_id"] == "u2")
    with redis.Redis.from_url(posting.redis.url) as r:
        newest = r.xrevrange(DOMAIN_STREAM, count=1)
        after = newest[0][0].decode() if newest else "0-0"
        posting.kill("media", signal.SIGSTOP)  # the post stays hidden until media runs
        try:
            _post(posting, client, track_id)
            until(lambda: _domain_events(r, after, "rights.ready", track_id), 5,
                  "rights handling the post", pause_s=0.01)  # fmt: skip
            until(lambda: _in_feed(posting, client, follower, track_id), 5,
                  "the stream adding the post", pause_s=0.01)  # fmt: skip
            assert _domain_events(r, after, "track.published", track_id) == []
        finally:
            posting.kill("media", signal.SIGCONT)
        until(lambda: _domain_events(r, after, "track.published", track_id), 5,
              "the stream publishing the post", pause_s=0.01)  # fmt: skip
        seen = client.get(f"{posting.url('catalog')}/catalog/tracks/{track_id}")
        assert seen.status_code == 200, seen.text
        published = _domain_events(r, after, "track.published", track_id)
        assert published == [{"track_id": track_id, "owner_id": "u2"}]
