"""The web BFF's live feed: new posts and reposts from the people the caller follows, likes
and reposts of the caller's own tracks, as they happen (``GET /api/live`` as a WebSocket,
``GET /api/live/sse`` as an event stream; docs/live.md).

One reader of the domain event stream (``waveform:events``) per worker, fanning out in
process through the hub, never one per socket. Each event is translated once:

- ``track.posted`` {track_id, owner_id}: a ``post`` to the topic ``actor:<owner>``;
- ``track.reposted`` {track_id, owner_id, user_id}: a ``repost`` to ``actor:<user>`` (their
  followers) and ``owner:<owner>`` (the track's owner);
- ``track.liked`` {track_id, owner_id, user_id}: a ``like`` to ``owner:<owner>``;
- ``user.followed`` / ``user.unfollowed`` {follower_id, followee_id}: the follower's open
  connections start or stop hearing ``actor:<followee>``.

A caller's topics are ``owner:<self>`` and ``actor:<followee>`` for each person followed
(asked of the social service as the caller when the connection opens).

Visibility stays the catalog's: the track's title is asked of the catalog as this BFF (an
internal token about the BFF itself, no user), with no viewer country, so only a track
anyone anywhere may see is announced live. A private or geo-restricted track never is (its
owner and permitted viewers find it on their next read of the stream), and the BFF decides
nothing about it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, ClassVar

import msgspec

from tailor import BFF, Request
from tailor.govern.labels import DataClass
from tailor.live import Event, Hub, Live
from waveform.bffs.consumed import CatalogBatch, UserBatch

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from tailor.upstream.client import UpstreamClient

log = logging.getLogger("waveform.web.live")

STREAM = "waveform:events"
SUBPROTOCOL = "waveform.live.v1"
#: Follows read when a connection opens: the feed follows at most this many people each.
MAX_FOLLOWINGS = 1000
#: Titles and names kept for this long, this many: a burst of likes on one track asks once.
CARD_TTL_S = 60.0
CARD_CACHE = 10_000

_TRANSLATED = {
    "track.posted": "post",
    "track.reposted": "repost",
    "track.liked": "like",
}
_FOLLOWS = {"user.followed", "user.unfollowed"}


class Actor(msgspec.Struct):
    __data_class__: ClassVar[DataClass] = DataClass.PUBLIC
    id: str
    username: str


class TrackRef(msgspec.Struct):
    __data_class__: ClassVar[DataClass] = DataClass.PUBLIC
    id: str
    title: str


class LiveEvent(msgspec.Struct):
    """One event as the client gets it (docs/live.md)."""

    __data_class__: ClassVar[DataClass] = DataClass.PUBLIC
    id: str
    type: str
    actor: Actor
    track: TrackRef
    at: float


class _Following(msgspec.Struct):
    user_id: str | None = None


class _Followings(msgspec.Struct):
    items: list[_Following]


_encode = msgspec.json.Encoder().encode
_decode_data = msgspec.json.Decoder(dict[str, str]).decode


class _Cards:
    """A small TTL cache of one kind of card (a title, a username) by id."""

    def __init__(self) -> None:
        self._entries: OrderedDict[str, tuple[float, str]] = OrderedDict()

    def get(self, key: str) -> str | None:
        entry = self._entries.get(key)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def put(self, key: str, value: str) -> None:
        self._entries[key] = (time.monotonic() + CARD_TTL_S, value)
        self._entries.move_to_end(key)
        while len(self._entries) > CARD_CACHE:
            self._entries.popitem(last=False)


class WebFeed:
    """The :class:`tailor.live.Feed` of the web BFF, over the Redis domain stream."""

    def __init__(self, redis_url: str | None) -> None:
        self.redis_url = redis_url
        self.upstreams: UpstreamClient | None = None
        self._redis: Redis | None = None
        self._task: asyncio.Task[None] | None = None
        self._titles = _Cards()
        self._names = _Cards()
        self.published = 0

    # -- tailor.live.Feed ------------------------------------------------------------------

    def start(self, hub: Hub) -> None:
        if self.redis_url is None:
            log.warning("web live: no state.redis_url, so no events to send")
            return
        # From the millisecond before now, fixed here rather than by the first read ("$"):
        # an event emitted just after the first connection opened is after it, so it is sent.
        start = f"{int(time.time() * 1000) - 1}-0"
        self._task = asyncio.get_running_loop().create_task(self._follow(hub, start))

    async def topics(self, request: Request) -> set[str]:
        principal = request.principal
        assert principal is not None and request.upstreams is not None
        self.upstreams = request.upstreams  # the worker's one client, for the feed's own calls
        me = principal.subject
        followings = await request.upstreams.get_json(
            "social",
            f"/social/{me}/followings",
            into=_Followings,
            query={"limit": MAX_FOLLOWINGS},
            principal=principal,
            request_id=request.request_id,
            timeout_s=1.0,
        )
        return {f"owner:{me}", *(f"actor:{f.user_id}" for f in followings.items if f.user_id)}

    async def replay(self, after: str, limit: int) -> list[Event] | None:
        redis: Any = self._client()
        first = await redis.xrange(STREAM, count=1)
        if not first or _order(first[0][0].decode()) > _order(after):
            return None  # the log no longer holds what came after that id
        found = await redis.xrange(STREAM, min=f"({after}", count=limit + 1)
        if len(found) > limit:
            return None
        events = []
        for message_id, fields in found:
            event = await self._translate(message_id.decode(), fields)
            if event is not None:
                events.append(event)
        return events

    # -- reading the stream ----------------------------------------------------------------

    def _client(self) -> Redis:
        if self._redis is None:
            from redis.asyncio import Redis

            assert self.redis_url is not None
            self._redis = Redis.from_url(self.redis_url, socket_connect_timeout=0.5,
                                         socket_timeout=3)  # fmt: skip
        return self._redis

    async def _follow(self, hub: Hub, last: str) -> None:
        """Read the stream after ``last``, forever, reconnecting with jittered backoff."""
        delay = 0.05
        while True:
            try:
                redis: Any = self._client()
                found = await redis.xread({STREAM: last}, count=200, block=1000)
                delay = 0.05
                for _stream, messages in found or ():
                    for message_id, fields in messages:
                        last = message_id.decode()
                        await self._dispatch(hub, last, fields)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("web live: event stream unavailable (%s); retrying in %.2f s",
                            type(exc).__name__, delay)  # fmt: skip
                await asyncio.sleep(delay * (0.5 + random.random() / 2))
                delay = min(delay * 2, 2.0)

    async def _dispatch(self, hub: Hub, message_id: str, fields: dict[bytes, bytes]) -> None:
        kind = fields.get(b"type", b"").decode(errors="replace")
        try:
            if kind in _FOLLOWS:
                data = _decode_data(fields.get(b"data", b"{}"))
                topic = f"actor:{data['followee_id']}"
                if kind == "user.followed":
                    hub.subscribe(data["follower_id"], topic)
                else:
                    hub.unsubscribe(data["follower_id"], topic)
                return
            event = await self._translate(message_id, fields)
        except Exception:  # one bad event must not stop the feed
            log.warning("web live: event %s not sent", message_id, exc_info=True)
            return
        if event is not None:
            self.published += 1
            hub.publish(event)

    async def _translate(self, message_id: str, fields: dict[bytes, bytes]) -> Event | None:
        kind = _TRANSLATED.get(fields.get(b"type", b"").decode(errors="replace"))
        if kind is None:
            return None
        try:
            data = _decode_data(fields.get(b"data", b"{}"))
        except msgspec.DecodeError:
            return None
        track_id, owner = data.get("track_id", ""), data.get("owner_id", "")
        actor = owner if kind == "post" else data.get("user_id", "")
        if not (track_id and owner and actor):
            return None
        title, username = await asyncio.gather(self._title(track_id), self._username(actor))
        if title is None or username is None:
            return None  # a track not everyone may see, or a user gone: nothing to announce
        topics: tuple[str, ...] = {
            "post": (f"actor:{actor}",),
            "repost": (f"actor:{actor}", f"owner:{owner}"),
            "like": (f"owner:{owner}",),
        }[kind]
        body = LiveEvent(
            message_id, kind, Actor(actor, username), TrackRef(track_id, title),
            at=_order(message_id)[0] / 1000,
        )  # fmt: skip
        return Event(message_id, topics, _encode(body), actor=actor)

    async def _title(self, track_id: str) -> str | None:
        title = self._titles.get(track_id)
        if title is None and self.upstreams is not None:
            batch = await self.upstreams.get_json("catalog", "/catalog/tracks", CatalogBatch,
                                                  query={"ids": track_id},
                                                  timeout_s=1.0)  # fmt: skip
            if not batch.items:
                return None
            title = batch.items[0].title
            self._titles.put(track_id, title)
        return title

    async def _username(self, user_id: str) -> str | None:
        name = self._names.get(user_id)
        if name is None and self.upstreams is not None:
            batch = await self.upstreams.get_json("users", "/users", UserBatch,
                                                  query={"ids": user_id},
                                                  timeout_s=1.0)  # fmt: skip
            if not batch.items:
                return None
            name = batch.items[0].username
            self._names.put(user_id, name)
        return name

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._redis is not None:
            await self._redis.aclose()


def _order(stream_id: str) -> tuple[int, int]:
    """A Redis stream id as a sortable pair (milliseconds, sequence)."""
    ms, _, seq = stream_id.partition("-")
    try:
        return int(ms), int(seq or 0)
    except ValueError:
        return (0, 0)


def add_live_routes(bff: BFF) -> Live:
    """``/api/live`` (WebSocket) and ``/api/live/sse`` on the web BFF."""
    feed = WebFeed(bff.config.state.redis_url)
    return Live(bff, feed, websocket="/api/live", sse="/api/live/sse", subprotocol=SUBPROTOCOL)
