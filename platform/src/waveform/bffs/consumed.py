"""What the BFFs consume from the services: only the fields they use.

These structs are the BFFs' consumer contracts. Upstream JSON is decoded straight into them, so
a field a service adds is never read, and a PII field (email, date of birth, phone, password
hash) cannot leak through a BFF because no struct here holds one.

``gc=False``: these are plain data (strings, numbers, lists of other records) and never part of
a reference cycle, so the garbage collector need not track them. A home screen decodes over a
thousand of them; untracked, they cost less to create and nothing in the collector's passes.
"""

from __future__ import annotations

import msgspec


class UserRecord(msgspec.Struct, gc=False):
    id: str
    username: str
    display_name: str
    avatar_url: str
    country: str = ""
    bio: str = ""
    city: str = ""
    followers_count: int = 0
    followings_count: int = 0
    track_count: int = 0


class UserBatch(msgspec.Struct, gc=False):
    items: list[UserRecord]


class Media(msgspec.Struct, gc=False):
    stream_url: str
    preview_url: str = ""


class CatalogTrack(msgspec.Struct, gc=False):
    """A track as the catalog (value-added) service shows it to one viewer."""

    id: str
    title: str
    owner_id: str
    duration_ms: int
    artwork_url: str
    media: Media
    genre: str = ""
    description: str = ""
    like_count: int = 0
    created_at: str = ""


class CatalogBatch(msgspec.Struct, gc=False):
    items: list[CatalogTrack]


class StreamItem(msgspec.Struct, gc=False):
    id: str
    type: str
    actor_id: str
    track_id: str
    created_at: str


class StreamPage(msgspec.Struct, gc=False):
    items: list[StreamItem]
    next_cursor: str | None = None


class Recommendation(msgspec.Struct, gc=False):
    track_id: str


class Recommendations(msgspec.Struct, gc=False):
    items: list[Recommendation]


class PlaylistRecord(msgspec.Struct, gc=False):
    id: str
    title: str
    owner_id: str
    track_ids: list[str]
    artwork_url: str = ""


class PlaylistBatch(msgspec.Struct, gc=False):
    items: list[PlaylistRecord]


class TrackRef(msgspec.Struct, gc=False):
    id: str


class TrackRefs(msgspec.Struct, gc=False):
    items: list[TrackRef]


class LoginResult(msgspec.Struct, gc=False):
    user_id: str
    access_token: str
    expires_in: int
    token_type: str = "Bearer"


EMPTY_USERS = UserBatch(items=[])
EMPTY_TRACKS = CatalogBatch(items=[])
EMPTY_STREAM = StreamPage(items=[])
EMPTY_RECOMMENDATIONS = Recommendations(items=[])
EMPTY_PLAYLISTS = PlaylistBatch(items=[])
EMPTY_REFS = TrackRefs(items=[])
