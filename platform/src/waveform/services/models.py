"""The services' response shapes, for their OpenAPI documents and for contract tests.

Handlers build plain dicts (fast); these structs describe them exactly
(``forbid_unknown_fields``), and the tests decode real responses into them, so the
published schema cannot drift from what a service sends.
"""

from __future__ import annotations

import msgspec


class Model(msgspec.Struct, forbid_unknown_fields=True):
    """Base: an unknown field in a response is a contract break."""


class Problem(Model):
    type: str
    title: str
    status: int
    detail: str


class LoginResult(Model):
    user_id: str
    access_token: str
    token_type: str
    expires_in: int


class Jwk(Model):
    kty: str
    kid: str
    use: str
    alg: str
    n: str
    e: str


class Jwks(Model):
    keys: list[Jwk]


class Account(Model):
    user_id: str
    username: str
    email: str
    password_hash: str | None
    created_at: str
    last_login_at: str | None
    failed_logins: int
    locked: bool
    mfa_enabled: bool
    roles: list[str]


class User(Model):
    id: str
    username: str
    display_name: str
    avatar_url: str
    bio: str
    country: str
    city: str
    email: str
    date_of_birth: str
    phone: str
    last_login_ip: str
    plan: str
    verified: bool
    created_at: str
    updated_at: str
    internal_notes: str
    risk_score: float
    followers_count: int
    followings_count: int
    track_count: int


class Users(Model):
    items: list[User]


class Track(Model):
    id: str
    title: str
    owner_id: str
    duration_ms: int
    genre: str
    tags: list[str]
    description: str
    artwork_url: str
    waveform_url: str
    private: bool
    created_at: str
    updated_at: str
    bpm: int
    isrc: str
    license: str
    play_count: int
    like_count: int
    repost_count: int
    comment_count: int
    downloadable: bool
    moderation_state: str
    storage_key: str
    checksum_sha1: str
    internal_notes: str


class Tracks(Model):
    items: list[Track]


class Playlist(Model):
    id: str
    title: str
    owner_id: str
    description: str
    track_ids: list[str]
    artwork_url: str
    private: bool
    created_at: str
    updated_at: str
    track_count: int
    duration_ms: int
    internal_notes: str
    #: Bumped by every edit; answered as the ETag an edit's If-Match must name.
    version: int


class Playlists(Model):
    items: list[Playlist]


class SocialItem(Model):
    created_at: str
    user_id: str | None = None
    track_id: str | None = None
    id: str | None = None


class Engagement(Model):
    """A track's likes, and whether the caller liked or reposted it."""

    track_id: str
    likes: int
    liked: bool
    reposted: bool


class Relation(Model):
    """Whether the caller follows ``user_id``."""

    user_id: str
    following: bool


class SocialList(Model):
    user_id: str
    kind: str
    items: list[SocialItem]


class StreamItem(Model):
    id: str
    type: str
    actor_id: str
    track_id: str
    created_at: str
    feed_owner_id: str
    ranking_signal: str


class StreamPage(Model):
    user_id: str
    items: list[StreamItem]
    next_cursor: str | None
    limit: int


class Recommendation(Model):
    rank: int
    track_id: str
    score: float
    reason: str


class Recommendations(Model):
    user_id: str
    items: list[Recommendation]
    model_version: str
    generated_at: str
    experiment_bucket: str


class Media(Model):
    track_id: str
    stream_url: str
    preview_url: str
    hls_url: str
    codec: str
    bitrate_kbps: int
    cdn_node: str
    signed_until: str
    transcode_job_id: str
    storage_bucket: str
    origin_host: str


class MediaBatch(Model):
    items: list[Media]


class Rights(Model):
    track_id: str
    geo_restricted: bool
    allowed_countries: list[str]
    label: str
    territories_note: str
    rights_holder_id: str
    license_start: str
    license_end: str | None
    takedown_pending: bool
    royalty_rate: float


class RightsBatch(Model):
    items: list[Rights]


class CatalogTrack(Track):
    media: Media | None
    rights: Rights | None


class CatalogTracks(Model):
    items: list[CatalogTrack]
