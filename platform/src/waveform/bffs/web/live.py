"""The web BFF's live feed: new posts and reposts from the people the caller follows, likes
and reposts of the caller's own tracks, as they happen (``GET /api/live`` as a WebSocket,
``GET /api/live/sse`` as an event stream; docs/live.md).

One reader of the domain event stream (``waveform:events``) per worker, fanning out in
process through the hub, never one per socket. A connection listens to one topic,
``user:<self>``, whatever the number of people its user follows (a topic per follow cost each
connection ~85 B per follow). Each event's recipients are resolved once, when it is read:

- ``track.published`` {track_id, owner_id}: a ``post`` to the owner's followers (emitted by
  the stream service once the post is visible: at ``track.posted`` the catalog still hides it);
- ``track.reposted`` {track_id, owner_id, user_id}: a ``repost`` to the reposter's followers
  and to the track's owner;
- ``track.liked`` {track_id, owner_id, user_id}: a ``like`` to the track's owner;
- ``user.followed`` / ``user.unfollowed`` {follower_id, followee_id}: the followee's cached
  followers are dropped, so their next post asks again.

An actor's followers are asked of the social service as this BFF (at most
``MAX_FOLLOWERS``, kept ``FOLLOWERS_TTL_S``), and the event goes to those of their topics
that have a connection in this worker (:meth:`tailor.live.Hub.listened`).

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
import sys
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

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
#: Followers asked of the social service per actor (its largest page): a person with more
#: reaches the most recent this many live; the rest see the post on their next read.
MAX_FOLLOWERS = 1000
#: An actor's followers are kept this long, for this many actors (a burst of posts asks once);
#: a follow or unfollow seen on the stream drops the followee's entry at once.
FOLLOWERS_TTL_S = 30.0
FOLLOWERS_CACHE = 1000
#: Pauses before translating an event again after a lookup failed, then it is given up.
RETRY_PAUSES_S = (0.1, 0.5)
#: Titles and names kept for this long, this many: a burst of likes on one track asks once.
CARD_TTL_S = 60.0
CARD_CACHE = 10_000

_TRANSLATED = {
    "track.published": "post",
    "track.reposted": "repost",
    "track.liked": "like",
}
_FOLLOWS = {"user.followed", "user.unfollowed"}
V = TypeVar("V")


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


class _Follower(msgspec.Struct):
    user_id: str | None = None


class _Followers(msgspec.Struct):
    items: list[_Follower]


_encode = msgspec.json.Encoder().encode
_decode_data = msgspec.json.Decoder(dict[str, str]).decode


class _Cards(Generic[V]):
    """A small TTL cache by id (a title, a username, an actor's followers)."""

    def __init__(self, ttl_s: float = CARD_TTL_S, size: int = CARD_CACHE) -> None:
        self._entries: OrderedDict[str, tuple[float, V]] = OrderedDict()
        self._ttl_s = ttl_s
        self._size = size

    def get(self, key: str) -> V | None:
        entry = self._entries.get(key)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def put(self, key: str, value: V) -> None:
        self._entries[key] = (time.monotonic() + self._ttl_s, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)

    def drop(self, key: str) -> None:
        self._entries.pop(key, None)


class WebFeed:
    """The :class:`tailor.live.Feed` of the web BFF, over the Redis domain stream."""

    def __init__(self, redis_url: str | None) -> None:
        self.redis_url = redis_url
        self.upstreams: UpstreamClient | None = None
        self._redis: Redis | None = None
        self._task: asyncio.Task[None] | None = None
        self._hub: Hub | None = None
        self._titles: _Cards[str] = _Cards()
        self._names: _Cards[str] = _Cards()
        self._followers: _Cards[frozenset[str]] = _Cards(FOLLOWERS_TTL_S, FOLLOWERS_CACHE)
        self.published = 0

    # -- tailor.live.Feed ------------------------------------------------------------------

    def start(self, hub: Hub) -> None:
        self._hub = hub
        if self.redis_url is None:
            log.warning("web live: no state.redis_url, so no events to send")
            return
        # From the millisecond before now, fixed here rather than by the first read ("$"):
        # an event emitted just after the first connection opened is after it, so it is sent.
        start = f"{int(time.time() * 1000) - 1}-0"
        self._task = asyncio.get_running_loop().create_task(self._follow(hub, start))

    async def topics(self, request: Request) -> set[str]:
        assert request.principal is not None
        self.upstreams = request.upstreams  # the worker's one client, for the feed's own calls
        return {_user(request.principal.subject)}

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
        if kind in _FOLLOWS:
            with contextlib.suppress(Exception):  # a malformed follow event changes nothing
                self._followers.drop(_decode_data(fields.get(b"data", b"{}"))["followee_id"])
            return
        for pause in (*RETRY_PAUSES_S, None):
            try:
                event = await self._translate(message_id, fields)
                break
            except Exception:  # one bad event must not stop the feed
                if pause is None:
                    log.warning("web live: event %s not sent", message_id, exc_info=True)
                    return
            # A lookup that failed (a busy service's timeout) is asked again before the event
            # is given up: a live client would otherwise never hear of it.
            await asyncio.sleep(pause)
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
        topics = [] if kind == "like" else await self._listening_followers(actor)
        if kind != "post":
            topics.append(_user(owner))
        if not topics:
            return None  # nobody here to tell
        body = LiveEvent(
            message_id, kind, Actor(actor, username), TrackRef(track_id, title),
            at=_order(message_id)[0] / 1000,
        )  # fmt: skip
        return Event(message_id, tuple(topics), _encode(body), actor=actor)

    async def _listening_followers(self, actor: str) -> list[str]:
        """The topics of ``actor``'s followers that have a connection in this worker."""
        if self._hub is None:
            return []
        followers = self._followers.get(actor)
        if followers is None and self.upstreams is not None:
            found = await self.upstreams.get_json("social", f"/social/{actor}/followers",
                                                  _Followers, query={"limit": MAX_FOLLOWERS},
                                                  timeout_s=1.0)  # fmt: skip
            followers = frozenset(_user(f.user_id) for f in found.items if f.user_id)
            self._followers.put(actor, followers)
        return self._hub.listened(followers) if followers else []

    async def _title(self, track_id: str) -> str | None:
        return await self._name(self._titles, "catalog", "/catalog/tracks", CatalogBatch,
                                track_id, "title")  # fmt: skip

    async def _username(self, user_id: str) -> str | None:
        return await self._name(self._names, "users", "/users", UserBatch, user_id, "username")

    async def _name(
        self, cards: _Cards[str], upstream: str, path: str, into: Any, id_: str, field: str
    ) -> str | None:
        """``field`` of the item ``id_``, from ``cards`` or from a one-id batch of ``upstream``
        (then kept); None when the batch has no such item (hidden from everyone, or gone)."""
        name = cards.get(id_)
        if name is None and self.upstreams is not None:
            batch = await self.upstreams.get_json(upstream, path, into, query={"ids": id_},
                                                  timeout_s=1.0)  # fmt: skip
            if not batch.items:
                return None
            name = str(getattr(batch.items[0], field))
            cards.put(id_, name)
        return name

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._redis is not None:
            await self._redis.aclose()


def _user(user_id: str) -> str:
    """The one topic of ``user_id``'s connections (interned: the hub and the follower cache
    share the string)."""
    return sys.intern(f"user:{user_id}")


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
