"""Who is listening to what, in one worker: subscribers keyed by topic.

A feed (the BFF's own: :class:`tailor.live.endpoint.Feed`) turns each upstream event into an
:class:`Event` with the topics it concerns (``actor:u2``, ``owner:u1``) and publishes it once;
the hub hands it to every subscriber of any of those topics, once each. Nothing here knows
what a topic means.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, Set
from typing import Protocol

from tailor.live.frames import sse_event, ws_text

log = logging.getLogger("tailor.live")

#: The largest event a feed may publish: a connection's send buffer keeps this much room
#: below its bound, so one more event never takes it past (tailor.live.connection).
MAX_EVENT_BYTES = 4096


class Event:
    """One event as delivered: its log id (for resuming), the topics it concerns, its JSON
    body, and the user who caused it (never sent it: one's own like is no news). Its
    frames are built on first use and shared by every recipient.

    >>> e = Event("1-0", ("actor:u2",), b'{"type": "post"}', actor="u2")
    >>> e.sse
    b'id: 1-0\\ndata: {"type": "post"}\\n\\n'
    """

    __slots__ = ("_sse", "_ws", "actor", "data", "id", "topics")

    def __init__(self, id: str, topics: tuple[str, ...], data: bytes, actor: str = "") -> None:
        self.id = id
        self.topics = topics
        self.data = data
        self.actor = actor
        self._ws: bytes | None = None
        self._sse: bytes | None = None

    @property
    def ws(self) -> bytes:
        if self._ws is None:
            self._ws = ws_text(self.data)
        return self._ws

    @property
    def sse(self) -> bytes:
        if self._sse is None:
            self._sse = sse_event(self.data, self.id)
        return self._sse


class Subscriber(Protocol):
    """A live connection as the hub sees it."""

    user: str
    #: A tuple, not a set: it is read on removal only, and a set costs an idle connection
    #: several times what a tuple of its few topics does.
    topics: tuple[str, ...]

    def deliver(self, event: Event) -> None: ...


class Hub:
    """Subscribers by topic and by user.

    >>> class Sink:
    ...     def __init__(self, user): self.user, self.topics, self.got = user, (), []
    ...     def deliver(self, event): self.got.append(event.id)
    >>> hub, alice = Hub(), Sink("u1")
    >>> hub.add(alice, {"actor:u2", "owner:u1"})
    >>> hub.publish(Event("1-0", ("actor:u2", "owner:u1"), b"{}", actor="u2"))
    1
    >>> alice.got
    ['1-0']
    """

    def __init__(self) -> None:
        # A topic's or a user's one subscriber itself, or a set of them: most users hold
        # one connection and most topics (a person followed) have few listeners in one
        # worker, and a set for each would cost more than the rest of a connection.
        self._topics: dict[str, _Held] = {}
        self._users: dict[str, _Held] = {}
        self.published = 0
        self.delivered = 0

    def __len__(self) -> int:
        return sum(len(s) if isinstance(s, set) else 1 for s in self._users.values())

    @property
    def topic_count(self) -> int:
        """Topics with at least one listener here."""
        return len(self._topics)

    def add(self, subscriber: Subscriber, topics: Iterable[str]) -> None:
        _put(self._users, subscriber.user, subscriber)
        joined = dict.fromkeys(subscriber.topics)
        # Interned: every follower of one person holds the same topic string, not a copy.
        joined.update(dict.fromkeys(map(sys.intern, topics)))
        subscriber.topics = tuple(joined)
        for topic in subscriber.topics:
            _put(self._topics, topic, subscriber)

    def remove(self, subscriber: Subscriber) -> None:
        for topic in subscriber.topics:
            _drop(self._topics, topic, subscriber)
        subscriber.topics = ()
        _drop(self._users, subscriber.user, subscriber)

    def of_user(self, user: str) -> tuple[Subscriber, ...]:
        return _members(self._users.get(user))

    def listened(self, topics: Set[str]) -> list[str]:
        """Those of ``topics`` some connection here listens to: a feed with many candidate
        topics for an event (an actor's followers) keeps the ones worth publishing to,
        walking whichever of the two is smaller.

        >>> hub = Hub()
        >>> hub.add(type("S", (), {"user": "u1", "topics": ()})(), {"user:u1"})
        >>> hub.listened({"user:u1", "user:u2"})
        ['user:u1']
        """
        if len(topics) <= len(self._topics):
            return [t for t in topics if t in self._topics]
        return [t for t in self._topics if t in topics]

    def subscribe(self, user: str, topic: str) -> None:
        """Every connection of ``user`` follows ``topic`` from now on (a new follow)."""
        topic = sys.intern(topic)
        for subscriber in self.of_user(user):
            if topic not in subscriber.topics:
                subscriber.topics += (topic,)
            _put(self._topics, topic, subscriber)

    def unsubscribe(self, user: str, topic: str) -> None:
        for subscriber in self.of_user(user):
            subscriber.topics = tuple(t for t in subscriber.topics if t != topic)
            _drop(self._topics, topic, subscriber)

    def publish(self, event: Event) -> int:
        """Deliver ``event`` to each subscriber of its topics but its actor; how many got it."""
        if len(event.data) > MAX_EVENT_BYTES:
            log.warning("live event %s dropped: %d bytes", event.id, len(event.data))
            return 0
        self.published += 1
        topics = event.topics
        if len(topics) == 1:
            members: Iterable[Subscriber] = _members(self._topics.get(topics[0]))
        else:
            found: set[Subscriber] = set()
            for topic in topics:
                found.update(_members(self._topics.get(topic)))
            members = found
        actor = event.actor
        count = 0
        for subscriber in members:
            if subscriber.user != actor:
                subscriber.deliver(event)
                count += 1
        self.delivered += count
        return count


_Held = Subscriber | set[Subscriber]


def _put(table: dict[str, _Held], key: str, subscriber: Subscriber) -> None:
    held = table.get(key)
    if held is None:
        table[key] = subscriber
    elif isinstance(held, set):
        held.add(subscriber)
    elif held is not subscriber:
        table[key] = {held, subscriber}


def _drop(table: dict[str, _Held], key: str, subscriber: Subscriber) -> None:
    held = table.get(key)
    if held is subscriber:
        del table[key]
    elif isinstance(held, set):
        held.discard(subscriber)
        if len(held) == 1:
            table[key] = next(iter(held))


def _members(held: _Held | None) -> tuple[Subscriber, ...]:
    if held is None:
        return ()
    return tuple(held) if isinstance(held, set) else (held,)
