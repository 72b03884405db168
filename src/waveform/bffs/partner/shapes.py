"""The partner API's contract (v1): a label's own data, never another partner's."""

from __future__ import annotations

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
