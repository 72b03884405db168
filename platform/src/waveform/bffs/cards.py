"""Small response shapes both BFFs show the same way, and their builders."""

from __future__ import annotations

from typing import ClassVar

import msgspec

from tailor.govern.labels import DataClass
from waveform.bffs.consumed import CatalogTrack, UserRecord


class UserCard(msgspec.Struct, gc=False):
    __data_class__: ClassVar[DataClass] = DataClass.PUBLIC
    id: str
    username: str
    display_name: str
    avatar_url: str


def user_card(user: UserRecord) -> UserCard:
    return UserCard(user.id, user.username, user.display_name, user.avatar_url)


def index_user_cards(users: list[UserRecord]) -> dict[str, UserCard]:
    """Each user's card by id, built once: a screen shows the same people many times."""
    return {u.id: user_card(u) for u in users}


def index_tracks(tracks: list[CatalogTrack]) -> dict[str, CatalogTrack]:
    return {t.id: t for t in tracks}
