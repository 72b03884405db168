"""The partner API BFF (port 8084): record labels reading their own data.

Partners authenticate with an API key (``X-API-Key``) or, over TLS, a client certificate
from the partner CA whose subject maps to the partner (see ``tailor.serve.tls``). Every
endpoint is scoped to the caller's partner id taken from the credential, so another
partner's data is unreachable by construction: no endpoint takes a partner id from the
client, except ``/v1/partners/{id}``, which answers 404 for any id but the caller's own, and
a track of another label is the same 404 as a missing one.
"""

from __future__ import annotations

from typing import Any

import msgspec

from tailor import BFF, NotFound, Outcome, Part, Plan, Request, Response, aggregate
from tailor.serve.run import config_from_env
from waveform.bffs.partner.shapes import LabelTrackOut, PartnerOut
from waveform.bffs.upstreams import DEFAULT_UPSTREAMS

PROFILE: dict[str, Any] = {
    "name": "partner",
    "listen": {"port": 8084},
    "admin": {"port": 8184},
    "auth": {"api_key": {}},
    "upstreams": {**DEFAULT_UPSTREAMS, "tokens": "http://127.0.0.1:9011"},
    # Inward calls carry internal tokens exchanged as this BFF (the secret from the
    # environment, set by the supervisor); the client's credential never goes inward.
    "token_exchange": {
        "client_id": "bff-partner",
        "client_secret_env": "WAVEFORM_TOKEN_EXCHANGE_SECRET",
    },
}


class PartnerRecord(msgspec.Struct):
    partner_id: str
    name: str
    label: str


class TrackRecord(msgspec.Struct):
    id: str
    title: str
    duration_ms: int


class RightsRecord(msgspec.Struct):
    track_id: str
    label: str
    geo_restricted: bool
    allowed_countries: list[str]
    royalty_rate: float = 0.0
    takedown_pending: bool = False


def _partner_part() -> Part:
    return Part("partner", "accounts", "/partners/{partner_id}", into=PartnerRecord,
                timeout_s=0.3)  # fmt: skip


PARTNER = Plan(parts=(_partner_part(),), deadline_s=0.5)

TRACK = Plan(
    parts=(
        _partner_part(),
        Part("rights", "rights", "/rights/{id}", into=RightsRecord, timeout_s=0.3),
        Part("track", "tracks", "/tracks/{id}", into=TrackRecord, timeout_s=0.3),
    ),
    deadline_s=0.8,
)


def shape_partner(credential: str) -> Any:
    def shape(outcome: Outcome) -> PartnerOut:
        p: PartnerRecord = outcome["partner"]
        return PartnerOut(
            partner_id=p.partner_id, name=p.name, label=p.label, authenticated_by=credential
        )

    return shape


def shape_track(outcome: Outcome) -> LabelTrackOut:
    partner: PartnerRecord = outcome["partner"]
    rights: RightsRecord = outcome["rights"]
    if rights.label != partner.label:
        # Another label's track answers exactly like a missing one.
        raise NotFound("no such track in your catalog")
    track: TrackRecord = outcome["track"]
    return LabelTrackOut(
        id=track.id,
        title=track.title,
        duration_ms=track.duration_ms,
        label=rights.label,
        geo_restricted=rights.geo_restricted,
        allowed_countries=rights.allowed_countries,
        royalty_rate=rights.royalty_rate,
        takedown_pending=rights.takedown_pending,
    )


def _partner_id(request: Request) -> str:
    principal = request.principal
    assert principal is not None
    if principal.kind != "partner" or not principal.partner_id:
        raise NotFound("no such partner")
    return principal.partner_id


def create() -> BFF:
    """The factory the server calls in each worker."""
    return build(config_from_env(PROFILE))


def build(config: Any) -> BFF:
    bff = BFF(config)

    @bff.get("/v1/partner", plans=(PARTNER,))
    async def me(request: Request) -> Response:
        assert request.principal is not None
        shape = shape_partner(request.principal.credential)
        return await aggregate(request, PARTNER, shape, partner_id=_partner_id(request))

    @bff.get("/v1/partners/{id}", plans=(PARTNER,))
    async def partner(request: Request) -> Response:
        own = _partner_id(request)
        if request.path_params["id"] != own:
            raise NotFound("no such partner")  # the same answer as for an unknown id
        assert request.principal is not None
        shape = shape_partner(request.principal.credential)
        return await aggregate(request, PARTNER, shape, partner_id=own)

    @bff.get("/v1/tracks/{id}", plans=(TRACK,))
    async def track(request: Request) -> Response:
        return await aggregate(
            request, TRACK, shape_track,
            partner_id=_partner_id(request), id=request.path_params["id"],
        )  # fmt: skip

    return bff
