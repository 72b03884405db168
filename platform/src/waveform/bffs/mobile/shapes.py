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


class PlaylistScreen(AggregateBody, kw_only=True):
    __data_class__: ClassVar[DataClass] = DataClass.PUBLIC
    id: str
    title: str
    artwork_url: str
    owner: UserCard | None
    tracks: list[TrackCard]
