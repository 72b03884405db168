"""The hub: who gets an event."""

from __future__ import annotations

from tailor.live.hub import MAX_EVENT_BYTES, Event, Hub


class Sink:
    def __init__(self, user: str) -> None:
        self.user = user
        self.topics: tuple[str, ...] = ()
        self.got: list[str] = []

    def deliver(self, event: Event) -> None:
        self.got.append(event.id)


def test_a_subscriber_of_two_of_an_events_topics_gets_it_once() -> None:
    hub, sink = Hub(), Sink("u1")
    hub.add(sink, {"actor:u2", "owner:u1"})
    hub.publish(Event("1-0", ("actor:u2", "owner:u1"), b"{}", actor="u2"))
    assert sink.got == ["1-0"]


def test_the_actor_never_gets_their_own_event() -> None:
    hub, sink = Hub(), Sink("u2")
    hub.add(sink, {"actor:u2"})
    assert hub.publish(Event("1-0", ("actor:u2",), b"{}", actor="u2")) == 0


def test_a_subscriber_of_other_topics_gets_nothing() -> None:
    hub, sink = Hub(), Sink("u1")
    hub.add(sink, {"actor:u3"})
    hub.publish(Event("1-0", ("actor:u2",), b"{}", actor="u2"))
    assert sink.got == []


def test_subscribe_adds_a_topic_to_every_connection_of_the_user() -> None:
    hub, a, b = Hub(), Sink("u1"), Sink("u1")
    hub.add(a, set())
    hub.add(b, set())
    hub.subscribe("u1", "actor:u9")
    hub.publish(Event("1-0", ("actor:u9",), b"{}", actor="u9"))
    assert (a.got, b.got) == (["1-0"], ["1-0"])


def test_unsubscribe_stops_a_topic() -> None:
    hub, sink = Hub(), Sink("u1")
    hub.add(sink, {"actor:u9"})
    hub.unsubscribe("u1", "actor:u9")
    hub.publish(Event("1-0", ("actor:u9",), b"{}", actor="u9"))
    assert sink.got == []


def test_a_removed_subscriber_leaves_no_topic_behind() -> None:
    hub, sink = Hub(), Sink("u1")
    hub.add(sink, {"actor:u9", "owner:u1"})
    hub.remove(sink)
    assert len(hub) == 0 and hub._topics == {}


def test_an_event_over_the_size_bound_is_not_published() -> None:
    hub, sink = Hub(), Sink("u1")
    hub.add(sink, {"all"})
    assert hub.publish(Event("1-0", ("all",), b"x" * (MAX_EVENT_BYTES + 1))) == 0


def test_a_users_second_connection_and_its_removal_keep_the_first() -> None:
    hub, a, b = Hub(), Sink("u1"), Sink("u1")
    hub.add(a, {"all"})
    hub.add(b, {"all"})
    hub.remove(b)
    assert hub.of_user("u1") == (a,) and len(hub) == 1


def test_subscribers_of_a_topic_share_its_name() -> None:
    hub, alice, bob = Hub(), Sink("u1"), Sink("u2")
    hub.add(alice, {"".join(["actor:", "u9"])})
    hub.add(bob, {"".join(["actor:", "u9"])})  # an equal string, another object
    assert alice.topics[0] is bob.topics[0]
