"""What the web app receives: one resource per endpoint, related entities normalized into
maps by id (the page's store merges them)."""

from __future__ import annotations

from typing import Annotated, ClassVar

import msgspec

from tailor import AggregateBody
from tailor.govern.labels import DataClass, Internal, Personal
from waveform.bffs.cards import UserCard


class TrackSummary(msgspec.Struct):
    __data_class__: ClassVar[DataClass] = DataClass.PUBLIC
    id: str
    title: str
    owner_id: str
    duration_ms: int
    artwork_url: str
    stream_url: str


class Me(AggregateBody, kw_only=True):
    __data_class__: ClassVar[DataClass] = DataClass.PUBLIC
    id: str
    username: str
    display_name: str
    avatar_url: str
    bio: str
    city: Annotated[str, Personal]
    followers_count: int
    followings_count: int
    track_count: int


class StreamEntry(msgspec.Struct):
    __data_class__: ClassVar[DataClass] = DataClass.PUBLIC
    id: str
    type: str
    created_at: str
    actor_id: str
    track_id: str


class StreamPageOut(AggregateBody, kw_only=True):
    items: list[StreamEntry]
    tracks: dict[str, TrackSummary]
    users: dict[str, UserCard]
    next_cursor: Annotated[str | None, Internal]


class TrackOut(AggregateBody, kw_only=True):
    __data_class__: ClassVar[DataClass] = DataClass.PUBLIC
    id: str
    title: str
    description: str
    genre: str
    owner_id: str
    duration_ms: int
    artwork_url: str
    stream_url: str
    preview_url: str
    like_count: int
    users: dict[str, UserCard]
    #: The caller's own like and repost, and the likes counted by the social service.
    liked: bool
    reposted: bool
    likes: int


class UserOut(AggregateBody, kw_only=True):
    __data_class__: ClassVar[DataClass] = DataClass.PUBLIC
    id: str
    username: str
    display_name: str
    avatar_url: str
    bio: str
    city: Annotated[str, Personal]
    followers_count: int
    followings_count: int
    tracks: list[TrackSummary]
    following: bool  # whether the caller follows this user


class PlaylistOut(AggregateBody, kw_only=True):
    __data_class__: ClassVar[DataClass] = DataClass.PUBLIC
    id: str
    title: str
    owner_id: str
    artwork_url: str
    track_ids: list[str]
    tracks: dict[str, TrackSummary]
    users: dict[str, UserCard]
