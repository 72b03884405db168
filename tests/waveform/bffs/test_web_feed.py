"""The web BFF's live feed, at its seam: events in, publications out (no platform)."""

from __future__ import annotations

from typing import Any

import pytest

from tailor.live import Event
from waveform.bffs.web import live


class Hub:
    def __init__(self) -> None:
        self.published: list[Event] = []

    def publish(self, event: Event) -> None:
        self.published.append(event)


async def test_an_event_whose_lookup_failed_once_is_still_published(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(live, "RETRY_PAUSES_S", (0.0, 0.0))
    feed = live.WebFeed(None)
    calls = []
    sent = Event("1-0", ("user:u1",), b"{}", actor="u2")

    async def translate(message_id: str, fields: Any) -> Event:
        calls.append(message_id)
        if len(calls) == 1:
            raise TimeoutError("catalog was busy")
        return sent

    monkeypatch.setattr(feed, "_translate", translate)
    hub = Hub()
    await feed._dispatch(hub, "1-0", {b"type": b"track.published"})  # type: ignore[arg-type]
    assert hub.published == [sent]


async def test_an_event_whose_lookups_keep_failing_is_given_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(live, "RETRY_PAUSES_S", (0.0, 0.0))
    feed = live.WebFeed(None)

    async def translate(message_id: str, fields: Any) -> Event:
        raise TimeoutError("catalog is down")

    monkeypatch.setattr(feed, "_translate", translate)
    hub = Hub()
    await feed._dispatch(hub, "1-0", {b"type": b"track.published"})  # type: ignore[arg-type]
    assert hub.published == []
