"""The partner API's contract (v1): a label's own data, never another partner's."""

from __future__ import annotations

import msgspec

from tailor import AggregateBody


class PartnerOut(AggregateBody, kw_only=True):
    partner_id: str
    name: str
    label: str
    authenticated_by: str  # "api_key" or "mtls"


class LabelTrackOut(AggregateBody, kw_only=True):
    """One of the partner's tracks with its licensing terms (partner-only data)."""

    id: str
    title: str
    duration_ms: int
    label: str
    geo_restricted: bool
    allowed_countries: list[str]
    royalty_rate: float
    takedown_pending: bool


class CatalogEntry(msgspec.Struct):
    """One track of the partner's label as the catalog shows it."""

    id: str
    title: str
    duration_ms: int
    artwork_url: str
    stream_url: str


class CatalogPage(AggregateBody, kw_only=True):
    """A page of the partner's own label; ``next_cursor`` is the rights service's, opaque."""

    label: str
    items: list[CatalogEntry]
    next_cursor: str | None
