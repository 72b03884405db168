"""What the TV app receives: one denormalized, pre-rendered payload per screen. The app draws
it as given: every string is display text (durations, counts, credits already formatted),
every tile carries its own action, and nothing refers to an entity sent elsewhere."""

from __future__ import annotations

from typing import ClassVar, Literal

import msgspec

from tailor import AggregateBody
from tailor.govern.labels import DataClass


class Action(msgspec.Struct, gc=False):
    """What pressing OK on a tile does: ``open`` a screen of this BFF (``target`` is its
    path) or ``play`` a stream (``target`` is its URL)."""

    __data_class__: ClassVar[DataClass] = DataClass.PUBLIC
    kind: Literal["open", "play"]
    target: str


class Tile(msgspec.Struct, gc=False):
    __data_class__: ClassVar[DataClass] = DataClass.PUBLIC
    title: str
    subtitle: str  # "Bob Builder"
    badge: str  # "3:25"
    image_url: str
    action: Action


class Rail(msgspec.Struct, gc=False):
    """A row of tiles, drawn in order."""

    __data_class__: ClassVar[DataClass] = DataClass.PUBLIC
    id: str
    title: str
    tiles: list[Tile]


class HomeScreen(AggregateBody, kw_only=True):
    __data_class__: ClassVar[DataClass] = DataClass.PUBLIC
    title: str  # "Welcome back, Alice"
    rails: list[Rail]


class Hero(msgspec.Struct, gc=False):
    """The top of a track screen."""

    __data_class__: ClassVar[DataClass] = DataClass.PUBLIC
    title: str
    subtitle: str  # the artist
    description: str
    facts: list[str]  # ["Electronic", "3:25", "1.2K likes"]
    image_url: str
    play: Action


class TrackScreen(AggregateBody, kw_only=True):
    __data_class__: ClassVar[DataClass] = DataClass.PUBLIC
    hero: Hero
    rails: list[Rail]
