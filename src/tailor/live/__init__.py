"""Live updates: WebSocket and server-sent event routes a BFF's feed publishes to
(docs/live.md)."""

from __future__ import annotations

from tailor.live.endpoint import Feed, Live
from tailor.live.hub import Event, Hub
from tailor.live.settings import LiveSettings

__all__ = ["Event", "Feed", "Hub", "Live", "LiveSettings"]
