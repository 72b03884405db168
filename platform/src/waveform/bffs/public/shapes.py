"""The public API's contract (v1): what third-party apps receive.

These structs are the stable, documented contract: the OpenAPI document at
``/v1/openapi.json`` is generated from them. Adding an optional field is compatible;
removing or renaming one needs ``/v2``.
"""

from __future__ import annotations

from typing import Annotated, ClassVar

import msgspec

from tailor import AggregateBody
from tailor.govern.labels import DataClass, Sensitive


class PublicUser(msgspec.Struct):
    """A user as any app may see them."""

    __data_class__: ClassVar[DataClass] = DataClass.PUBLIC
    id: str
    username: str
    display_name: str
    avatar_url: str


class PublicTrack(msgspec.Struct):
    """A track the caller may see (private and geo-blocked ones are absent)."""

    __data_class__: ClassVar[DataClass] = DataClass.PUBLIC
    id: str
    title: str
    owner_id: str
    duration_ms: int
    artwork_url: str
    stream_url: str
    genre: str
    like_count: int


class TrackOut(AggregateBody, kw_only=True):
    __data_class__: ClassVar[DataClass] = DataClass.PUBLIC
    track: PublicTrack
    owner: PublicUser | None = None
    #: The signed-in user's own like and repost (false for an app token), and the likes.
    liked: bool
    reposted: bool
    likes: int


class UserOut(AggregateBody, kw_only=True):
    __data_class__: ClassVar[DataClass] = DataClass.PUBLIC
    user: PublicUser
    followers_count: int
    tracks: list[PublicTrack]
    following: bool  # whether the signed-in user follows this user


class PlaylistOut(AggregateBody, kw_only=True):
    __data_class__: ClassVar[DataClass] = DataClass.PUBLIC
    id: str
    title: str
    owner_id: str
    artwork_url: str
    private: bool
    tracks: list[PublicTrack]


class PlaylistSummary(msgspec.Struct):
    __data_class__: ClassVar[DataClass] = DataClass.PUBLIC
    id: str
    title: str
    track_count: int
    private: bool


class MeOut(AggregateBody, kw_only=True):
    """The signed-in user (user tokens only)."""

    user: PublicUser
    playlists: list[PlaylistSummary]


class TokenOut(msgspec.Struct, omit_defaults=True):
    """``POST /v1/oauth/token`` (RFC 6749 5.1)."""

    __data_class__: ClassVar[DataClass] = DataClass.INTERNAL
    access_token: Annotated[str, Sensitive]
    token_type: str
    expires_in: int
    refresh_token: Annotated[str | None, Sensitive] = None
    scope: str | None = None


class ProblemOut(msgspec.Struct, omit_defaults=True):
    """Every error (RFC 9457)."""

    __data_class__: ClassVar[DataClass] = DataClass.PUBLIC
    status: int
    title: str
    detail: str = ""
    type: str = "about:blank"
    parameter: str = ""
