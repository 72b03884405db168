"""What the BFFs consume from the services: only the fields they use.

These structs are the BFFs' consumer contracts. Upstream JSON is decoded straight into them, so
a field a service adds is never read, and a PII field (email, date of birth, phone, password
hash) cannot leak through a BFF because no struct here holds one. Each field has a data class
(``__data_class__`` for the struct, a label where a field differs: tailor.govern.labels); the
personal ones that are read (a user's country and city) reach a response only where a BFF's
``governance.expose`` names them (docs/governance.md).

``gc=False``: these are plain data (strings, numbers, lists of other records) and never part of
a reference cycle, so the garbage collector need not track them. A home screen decodes over a
thousand of them; untracked, they cost less to create and nothing in the collector's passes.
"""

from __future__ import annotations

from typing import Annotated, ClassVar

import msgspec

from tailor.govern.labels import DataClass, Internal, Personal, Sensitive


class UserRecord(msgspec.Struct, gc=False):
    __data_class__: ClassVar[DataClass] = DataClass.PUBLIC
    id: str
    username: str
    display_name: str
    avatar_url: str
    country: Annotated[str, Personal] = ""  # sent inward only, for the catalog's geo rules
    bio: str = ""
    city: Annotated[str, Personal] = ""
    followers_count: int = 0
    followings_count: int = 0
    track_count: int = 0


class UserBatch(msgspec.Struct, gc=False):
    items: list[UserRecord]


class Media(msgspec.Struct, gc=False):
    __data_class__: ClassVar[DataClass] = DataClass.PUBLIC
    stream_url: str
    preview_url: str = ""


class CatalogTrack(msgspec.Struct, gc=False):
    """A track as the catalog (value-added) service shows it to one viewer."""

    __data_class__: ClassVar[DataClass] = DataClass.PUBLIC
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
    __data_class__: ClassVar[DataClass] = DataClass.PUBLIC
    id: str
    type: str
    actor_id: str
    track_id: str
    created_at: str


class StreamPage(msgspec.Struct, gc=False):
    items: list[StreamItem]
    next_cursor: Annotated[str | None, Internal] = None


class Recommendation(msgspec.Struct, gc=False):
    __data_class__: ClassVar[DataClass] = DataClass.PUBLIC
    track_id: str


class Recommendations(msgspec.Struct, gc=False):
    items: list[Recommendation]


class PlaylistRecord(msgspec.Struct, gc=False):
    __data_class__: ClassVar[DataClass] = DataClass.PUBLIC
    id: str
    title: str
    owner_id: str
    track_ids: list[str]
    artwork_url: str = ""
    #: Bumped by every edit: the ETag an edit's If-Match names (waveform.bffs.commands).
    version: int = 0


class PlaylistBatch(msgspec.Struct, gc=False):
    items: list[PlaylistRecord]


class Engagement(msgspec.Struct, gc=False):
    """A track's likes and whether the caller liked or reposted it (the social service)."""

    __data_class__: ClassVar[DataClass] = DataClass.PUBLIC
    likes: int = 0
    liked: bool = False
    reposted: bool = False


class Relation(msgspec.Struct, gc=False):
    """Whether the caller follows a user (the social service)."""

    __data_class__: ClassVar[DataClass] = DataClass.PUBLIC
    following: bool = False


#: What a screen shows when social cannot say (the part is optional: marked degraded).
NO_ENGAGEMENT = Engagement()
NO_RELATION = Relation()


class TrackRef(msgspec.Struct, gc=False):
    __data_class__: ClassVar[DataClass] = DataClass.PUBLIC
    id: str


class TrackRefs(msgspec.Struct, gc=False):
    items: list[TrackRef]


class LoginResult(msgspec.Struct, gc=False):
    __data_class__: ClassVar[DataClass] = DataClass.INTERNAL
    user_id: str
    access_token: Annotated[str, Sensitive]
    expires_in: int
    token_type: str = "Bearer"


EMPTY_USERS = UserBatch(items=[])
EMPTY_TRACKS = CatalogBatch(items=[])
EMPTY_STREAM = StreamPage(items=[])
EMPTY_RECOMMENDATIONS = Recommendations(items=[])
EMPTY_PLAYLISTS = PlaylistBatch(items=[])
EMPTY_REFS = TrackRefs(items=[])
