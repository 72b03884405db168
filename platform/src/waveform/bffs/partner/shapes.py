"""The partner API's contract (v1): a label's own data, never another partner's."""

from __future__ import annotations

from typing import Annotated, ClassVar

import msgspec

from tailor import AggregateBody
from tailor.govern.labels import DataClass, Internal, Public


class PartnerOut(AggregateBody, kw_only=True):
    __data_class__: ClassVar[DataClass] = DataClass.PUBLIC
    partner_id: Annotated[str, Internal]
    name: str
    label: str
    authenticated_by: Annotated[str, Internal]  # "api_key" or "mtls"


class LabelTrackOut(AggregateBody, kw_only=True):
    """One of the partner's tracks with its licensing terms (partner-only data)."""

    __data_class__: ClassVar[DataClass] = DataClass.INTERNAL
    id: Annotated[str, Public]
    title: Annotated[str, Public]
    duration_ms: Annotated[int, Public]
    label: Annotated[str, Public]
    geo_restricted: bool
    allowed_countries: list[str]
    royalty_rate: float
    takedown_pending: bool


class CatalogEntry(msgspec.Struct):
    """One track of the partner's label as the catalog shows it."""

    __data_class__: ClassVar[DataClass] = DataClass.PUBLIC
    id: str
    title: str
    duration_ms: int
    artwork_url: str
    stream_url: str


class CatalogPage(AggregateBody, kw_only=True):
    """A page of the partner's own label; ``next_cursor`` is the rights service's, opaque."""

    label: Annotated[str, Public]
    items: list[CatalogEntry]
    next_cursor: Annotated[str | None, Internal]
