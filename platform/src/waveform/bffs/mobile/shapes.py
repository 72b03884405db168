"""What the mobile app receives: whole screens, entities embedded, nothing it does not draw."""

from __future__ import annotations

from typing import Annotated, ClassVar

import msgspec

from tailor import AggregateBody
from tailor.govern.labels import DataClass, Internal, Personal
from waveform.bffs.cards import UserCard


class TrackCard(msgspec.Struct, gc=False):
    __data_class__: ClassVar[DataClass] = DataClass.PUBLIC
    id: str
    title: str
    duration_ms: int
    artwork_url: str
    stream_url: str
    owner: UserCard | None


class StreamCard(msgspec.Struct, gc=False):
    __data_class__: ClassVar[DataClass] = DataClass.PUBLIC
    id: str
    type: str
    created_at: str
    actor: UserCard | None
    track: TrackCard


class StreamSection(msgspec.Struct, gc=False):
    items: list[StreamCard]
    next_cursor: Annotated[str | None, Internal]


class PlaylistCard(msgspec.Struct, gc=False):
    __data_class__: ClassVar[DataClass] = DataClass.PUBLIC
    id: str
    title: str
    track_count: int
    artwork_url: str


class Home(AggregateBody, kw_only=True):
    me: UserCard
    stream: StreamSection
    recommendations: list[TrackCard]
    playlists: list[PlaylistCard]


class TrackScreen(AggregateBody, kw_only=True):
    __data_class__: ClassVar[DataClass] = DataClass.PUBLIC
    id: str
    title: str
    description: str
    genre: str
    duration_ms: int
    artwork_url: str
    stream_url: str
    preview_url: str
    like_count: int
    owner: UserCard | None
    #: The caller's own like and repost, and the likes counted by the social service.
    liked: bool
    reposted: bool
    likes: int


class UserScreen(AggregateBody, kw_only=True):
    __data_class__: ClassVar[DataClass] = DataClass.PUBLIC
    id: str
    username: str
    display_name: str
    avatar_url: str
    bio: str
    city: Annotated[str, Personal]
    followers_count: int
    followings_count: int
    tracks: list[TrackCard]
    following: bool  # whether the caller follows this user


class PlaylistScreen(AggregateBody, kw_only=True):
    __data_class__: ClassVar[DataClass] = DataClass.PUBLIC
    id: str
    title: str
    artwork_url: str
    owner: UserCard | None
    tracks: list[TrackCard]


# -- home, version 2 ------------------------------------------------------------------------
# The redesign: the screen is a list of shelves the app draws in order, each saying its kind,
# so the home can gain or reorder shelves without a new app build. The cards are v1's.


class StreamShelf(msgspec.Struct, tag="stream", tag_field="kind", gc=False):
    __data_class__: ClassVar[DataClass] = DataClass.PUBLIC
    title: str
    items: list[StreamCard]
    next_cursor: str | None


class TrackShelf(msgspec.Struct, tag="tracks", tag_field="kind", gc=False):
    __data_class__: ClassVar[DataClass] = DataClass.PUBLIC
    title: str
    items: list[TrackCard]


class PlaylistShelf(msgspec.Struct, tag="playlists", tag_field="kind", gc=False):
    __data_class__: ClassVar[DataClass] = DataClass.PUBLIC
    title: str
    items: list[PlaylistCard]


class HomeV2(AggregateBody, kw_only=True):
    me: UserCard
    shelves: list[StreamShelf | TrackShelf | PlaylistShelf]
