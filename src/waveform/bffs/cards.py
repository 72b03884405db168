"""Small response shapes both BFFs show the same way, and their builders."""

from __future__ import annotations

import msgspec

from waveform.bffs.consumed import CatalogTrack, UserRecord


class UserCard(msgspec.Struct, gc=False):
    id: str
    username: str
    display_name: str
    avatar_url: str


def user_card(user: UserRecord) -> UserCard:
    return UserCard(user.id, user.username, user.display_name, user.avatar_url)


def index_users(users: list[UserRecord]) -> dict[str, UserRecord]:
    return {u.id: u for u in users}


def index_tracks(tracks: list[CatalogTrack]) -> dict[str, CatalogTrack]:
    return {t.id: t for t in tracks}
