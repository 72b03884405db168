"""The partner API BFF (port 8084): record labels reading their own data.

Partners authenticate with an API key (``X-API-Key``) or, over TLS, a client certificate
from the partner CA whose subject maps to the partner (see ``tailor.serve.tls``). Every
endpoint is scoped to the caller's partner id taken from the credential, so another
partner's data is unreachable by construction: no endpoint takes a partner id from the
client, except ``/v1/partners/{id}``, which answers 404 for any id but the caller's own, and
a track of another label is the same 404 as a missing one.

``GET /v1/tracks/{id}`` asks the rights service for the track's rights *within the caller's
label* (``/rights/{id}?label=``): the rights service applies the label rule and answers 404
for another label's track, which this BFF passes on as its own 404. The BFF only translates.

``GET /v1/catalog?limit=&cursor=`` pages through the caller's own label: the rights service
lists the label's track ids (``/rights?label=``, paged by its cursor, passed through as is)
and the catalog service answers them in one batch, applying its visibility rules once (the
subject is the partner, which owns no track: what the public may see of the label).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, ClassVar

import msgspec

from tailor import BFF, Inputs, Json, NotFound, Part, Plan, PlanResult, Request, aggregate
from tailor.govern.labels import DataClass, Internal, Public
from tailor.params import Int, Query, Token
from tailor.serve.run import config_from_env
from waveform.bffs.consumed import EMPTY_TRACKS, CatalogBatch, CatalogTrack
from waveform.bffs.cursors import with_cursor_from
from waveform.bffs.exchange import token_exchange
from waveform.bffs.partner.shapes import CatalogEntry, CatalogPage, LabelTrackOut, PartnerOut
from waveform.bffs.quotas import rate_limit
from waveform.bffs.upstreams import DEFAULT_UPSTREAMS, grpc_settings

PROFILE: dict[str, Any] = {
    "name": "partner",
    "listen": {"port": 8084},
    "admin": {"port": 8184},
    "server": {"http2": True},  # ALPN offers h2 on the mutual-TLS listener
    "auth": {"api_key": {}},
    # Failed authentication (a guessed API key) per client IP, refused before authenticate
    # once over (see docs/rate-limiting.md); reads per partner (the "app" key; a partner
    # credential has no user, so the per-user quota passes it by).
    # The contract, generated from the routes (docs/openapi.md).
    # Partner integrations identified by their User-Agent, counted per route and version
    # (docs/clients.md).
    "clients": {"source": "user-agent"},
    "openapi": {"path": "/v1/openapi.json", "title": "waveform partner API"},
    "rate_limit": rate_limit(None, writes=False),  # docs/rate-limiting.md
    "upstreams": {**DEFAULT_UPSTREAMS, "tokens": "http://127.0.0.1:9011"},
    "grpc": grpc_settings(),  # for the upstreams a deployment sets to grpc://
    "token_exchange": token_exchange("partner"),  # inward as itself, never as the client
}


class PartnerRecord(msgspec.Struct):
    __data_class__: ClassVar[DataClass] = DataClass.PUBLIC
    partner_id: Annotated[str, Internal]
    name: str
    label: str


class TrackRecord(msgspec.Struct):
    __data_class__: ClassVar[DataClass] = DataClass.PUBLIC
    id: str
    title: str
    duration_ms: int


class RightsRecord(msgspec.Struct):
    __data_class__: ClassVar[DataClass] = DataClass.INTERNAL
    track_id: Annotated[str, Public]
    label: Annotated[str, Public]
    geo_restricted: bool
    allowed_countries: list[str]
    royalty_rate: float = 0.0
    takedown_pending: bool = False


class LabelRights(msgspec.Struct):
    """One page of the rights service's ``/rights?label=``: the ids and the next cursor."""

    items: list[RightsRecord]
    next_cursor: Annotated[str | None, Internal] = None


class CatalogQuery(Query):
    #: The catalog answers at most 100 ids per batch: one page is one batch.
    limit = Int(default=50, low=1, high=100)
    cursor = Token()


def _label_params(inputs: Inputs) -> dict[str, str | int]:
    partner: PartnerRecord = inputs["partner"]
    params: dict[str, str | int] = {"label": partner.label, "limit": int(inputs.vars["limit"])}
    if inputs.vars["cursor"]:
        params["cursor"] = inputs.vars["cursor"]  # passed through: the BFF never pages itself
    return params


def _own_label(inputs: Inputs) -> dict[str, str | int]:
    partner: PartnerRecord = inputs["partner"]
    return {"label": partner.label}  # the rights service refuses a track outside it


def _catalog_params(inputs: Inputs) -> dict[str, str | int] | None:
    ids = [r.track_id for r in inputs["rights"].items]
    return {"ids": ",".join(ids)} if ids else None


def _partner_part() -> Part:
    return Part("partner", "accounts", "/partners/{partner_id}", into=PartnerRecord,
                timeout_s=0.3)  # fmt: skip


PARTNER = Plan(parts=(_partner_part(),), deadline_s=0.5)

TRACK = Plan(
    parts=(
        _partner_part(),
        Part("rights", "rights", "/rights/{id}", into=RightsRecord, params=_own_label,
             needs=("partner",), timeout_s=0.3),
        # In parallel with the rights check: another label's track metadata may be fetched,
        # but the rights 404 fails the response before any of it is shaped.
        Part("track", "tracks", "/tracks/{id}", into=TrackRecord, timeout_s=0.3),
    ),
    deadline_s=0.8,
)  # fmt: skip


CATALOG = Plan(
    parts=(
        _partner_part(),
        Part("rights", "rights", "/rights", into=LabelRights, params=_label_params,
             needs=("partner",), timeout_s=0.3),
        Part("tracks", "catalog", "/catalog/tracks", into=CatalogBatch, params=_catalog_params,
             needs=("rights",), fallback=EMPTY_TRACKS, timeout_s=0.4),
    ),
    deadline_s=1.0,
)  # fmt: skip


def shape_catalog(outcome: PlanResult) -> CatalogPage:
    partner: PartnerRecord = outcome["partner"]
    tracks: list[CatalogTrack] = outcome["tracks"].items
    return CatalogPage(
        label=partner.label,
        items=[CatalogEntry(t.id, t.title, t.duration_ms, t.artwork_url, t.media.stream_url)
               for t in tracks],
        next_cursor=outcome["rights"].next_cursor,
    )  # fmt: skip


def shape_partner(credential: str) -> Callable[[PlanResult], PartnerOut]:
    def shape(outcome: PlanResult) -> PartnerOut:
        p: PartnerRecord = outcome["partner"]
        return PartnerOut(
            partner_id=p.partner_id, name=p.name, label=p.label, authenticated_by=credential
        )

    return shape


def shape_track(outcome: PlanResult) -> LabelTrackOut:
    rights: RightsRecord = outcome["rights"]  # within the caller's label: the service checked
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

    @bff.get("/v1/partner", plan=PARTNER)
    async def me(request: Request) -> Json[PartnerOut]:
        assert request.principal is not None
        shape = shape_partner(request.principal.credential)
        return await aggregate(request, shape, partner_id=_partner_id(request))

    @bff.get("/v1/partners/{id}", plan=PARTNER)
    async def partner(request: Request) -> Json[PartnerOut]:
        own = _partner_id(request)
        if request.path_params["id"] != own:
            raise NotFound("no such partner")  # the same answer as for an unknown id
        assert request.principal is not None
        shape = shape_partner(request.principal.credential)
        return await aggregate(request, shape, partner_id=own)

    @bff.get("/v1/catalog", plan=CATALOG, query=CatalogQuery)
    async def catalog(request: Request) -> Json[CatalogPage]:
        query = CatalogQuery.of(request)
        return await with_cursor_from("rights", aggregate(
            request, shape_catalog, partner_id=_partner_id(request),
            limit=str(query.limit), cursor=query.cursor or "",
        ))  # fmt: skip

    @bff.get("/v1/tracks/{id}", plan=TRACK)
    async def track(request: Request) -> Json[LabelTrackOut]:
        return await aggregate(
            request, shape_track,
            partner_id=_partner_id(request), id=request.path_params["id"],
        )  # fmt: skip

    return bff
