"""The public API BFF (port 8083): third-party apps and their users, under ``/v1``.

Two kinds of caller, both bearer JWTs of audience ``waveform-public`` from accounts:

- an app (OAuth2 client credentials, ``POST /v1/oauth/token``): public data only; the
  catalog is asked with no viewer, so private and geo-blocked tracks are absent;
- a user of an app (password or refresh grant with the app's ``client_id``): also ``/v1/me``
  and their own private playlists (the playlists service decides that from the internal
  token's subject; an app's subject is its client id, which owns no playlist).

Every call passes the entitlements stage: the app must be active and allowed on ``public``.
The contract is the structs in :mod:`waveform.bffs.public.shapes`, published as OpenAPI at
``/v1/openapi.json``.
"""

from __future__ import annotations

from typing import Any

import msgspec

from tailor import BFF, HTTPProblem, Inputs, NotFound, Part, Plan, PlanResult, Request, Response
from tailor import aggregate as run_aggregate
from tailor.http import json_response
from tailor.serve.run import config_from_env
from waveform.bffs.consumed import (
    EMPTY_REFS,
    EMPTY_TRACKS,
    EMPTY_USERS,
    CatalogBatch,
    CatalogTrack,
    TrackRefs,
    UserBatch,
    UserRecord,
)
from waveform.bffs.parts import unique
from waveform.bffs.public.catalog import add_catalog_routes
from waveform.bffs.public.openapi import openapi_document
from waveform.bffs.public.shapes import (
    MeOut,
    PlaylistOut,
    PlaylistSummary,
    PublicTrack,
    PublicUser,
    TrackOut,
    UserOut,
)
from waveform.bffs.quotas import READ_QUOTAS
from waveform.bffs.token import token_endpoint
from waveform.bffs.upstreams import DEFAULT_UPSTREAMS, grpc_settings

AUDIENCE = "waveform-public"
PROFILE: dict[str, Any] = {
    "name": "public",
    "listen": {"port": 8083},
    "admin": {"port": 8183},
    # A tight per-IP quota on the token endpoint (password guessing), writes per user.
    # Reads: per user and per app by tier (waveform.bffs.quotas, docs/rate-limiting.md).
    "rate_limit": {
        "route_classes": {"POST /v1/oauth/token": "auth"},
        # Failed authentication per client IP, refused before authenticate once over:
        # generous for carrier NAT, ruinous for a guesser (see docs/rate-limiting.md).
        "auth_failures": {"limit": 100, "window_s": 600},
        "policies": {
            "auth-ip": {"key": "ip", "limit": 60, "window_s": 60, "classes": ["auth"]},
            "user-write": {"key": "user", "limit": 120, "window_s": 60, "classes": ["write"]},
            **READ_QUOTAS,
        },
    },
    "auth": {
        "jwt": {"issuer": "waveform-accounts", "audience": AUDIENCE, "jwks_upstream": "accounts"}
    },
    "entitlements": {"enabled": True},
    "upstreams": {**DEFAULT_UPSTREAMS, "tokens": "http://127.0.0.1:9011"},
    "grpc": grpc_settings(),  # for the upstreams a deployment sets to grpc://
    # Inward calls carry internal tokens exchanged as this BFF (the secret from the
    # environment, set by the supervisor); the client's credential never goes inward.
    "token_exchange": {
        "client_id": "bff-public",
        "client_secret_env": "WAVEFORM_TOKEN_EXCHANGE_SECRET",
    },
}


class Forbidden(HTTPProblem):
    status = 403
    title = "Forbidden"


class PlaylistRecord(msgspec.Struct):
    """A playlist the caller may see: the playlists service answers a private one only to
    its owner (the same 404 as a missing one otherwise), so the BFF only shapes it."""

    id: str
    title: str
    owner_id: str
    track_ids: list[str]
    artwork_url: str = ""
    private: bool = True  # shown to the owner; absent reads as private (never overclaims)


class PlaylistBatch(msgspec.Struct):
    items: list[PlaylistRecord]


# -- parts ------------------------------------------------------------------------------------


def _viewer(inputs: Inputs) -> list[tuple[str, str]]:
    """The viewer's country for the catalog, only for a user token (an app sees public
    data). Who the viewer is travels as the internal token's subject, not as a header."""
    if inputs.vars.get("kind") != "user":
        return []
    me: UserRecord = inputs["me"]
    return [("x-viewer-country", me.country)]


def _me_part(required: bool = True) -> Part:
    def params(inputs: Inputs) -> dict[str, str | int] | None:
        return {} if inputs.vars.get("kind") == "user" else None

    return Part(
        "me", "users", "/users/{user_id}", into=UserRecord, params=params,
        required=required, fallback=None, timeout_s=0.3,
    )  # fmt: skip


def _catalog(name: str, ids: Any, needs: tuple[str, ...], required: bool = False) -> Part:
    def params(inputs: Inputs) -> dict[str, str | int] | None:
        wanted = unique(ids(inputs))
        return {"ids": ",".join(wanted)} if wanted else None

    return Part(
        name, "catalog", "/catalog/tracks", into=CatalogBatch, params=params,
        needs=("me", *needs), headers=_viewer, required=required, fallback=EMPTY_TRACKS,
        timeout_s=0.4,
    )  # fmt: skip


def _users(name: str, ids: Any, needs: tuple[str, ...]) -> Part:
    def params(inputs: Inputs) -> dict[str, str | int] | None:
        wanted = unique(ids(inputs))
        return {"ids": ",".join(wanted)} if wanted else None

    return Part(
        name, "users", "/users", into=UserBatch, params=params, needs=needs,
        required=False, fallback=EMPTY_USERS, timeout_s=0.3,
    )  # fmt: skip


def public_track(t: CatalogTrack) -> PublicTrack:
    return PublicTrack(
        t.id, t.title, t.owner_id, t.duration_ms, t.artwork_url, t.media.stream_url, t.genre,
        t.like_count,
    )  # fmt: skip


def public_user(u: UserRecord) -> PublicUser:
    return PublicUser(u.id, u.username, u.display_name, u.avatar_url)


# -- plans and shapes ------------------------------------------------------------------------

TRACK = Plan(
    parts=(
        _me_part(),
        _catalog("track", lambda i: [i.vars["id"]], needs=(), required=True),
        _users("owner", lambda i: [t.owner_id for t in i["track"].items], needs=("track",)),
    ),
    deadline_s=1.0,
)


def shape_track(outcome: PlanResult) -> TrackOut:
    found: list[CatalogTrack] = outcome["track"].items
    if not found:
        raise NotFound("no such track")
    owners = outcome["owner"].items
    return TrackOut(track=public_track(found[0]), owner=public_user(owners[0]) if owners else None)


USER = Plan(
    parts=(
        _me_part(),
        Part("user", "users", "/users/{id}", into=UserRecord, timeout_s=0.3),
        Part("owned", "tracks", "/tracks", into=TrackRefs,
             params=lambda i: {"owner": i.vars["id"], "limit": 50}, required=False,
             fallback=EMPTY_REFS, timeout_s=0.3),
        _catalog("tracks", lambda i: [r.id for r in i["owned"].items], needs=("owned",)),
    ),
    deadline_s=1.0,
)  # fmt: skip


def shape_user(outcome: PlanResult) -> UserOut:
    u: UserRecord = outcome["user"]
    return UserOut(
        user=public_user(u),
        followers_count=u.followers_count,
        tracks=[public_track(t) for t in outcome["tracks"].items],
    )


PLAYLIST = Plan(
    parts=(
        _me_part(),
        Part("playlist", "playlists", "/playlists/{id}", into=PlaylistRecord, timeout_s=0.3),
        _catalog("tracks", lambda i: i["playlist"].track_ids, needs=("playlist",)),
    ),
    deadline_s=1.0,
)


def shape_playlist(outcome: PlanResult) -> PlaylistOut:
    p: PlaylistRecord = outcome["playlist"]
    tracks = {t.id: t for t in outcome["tracks"].items}
    return PlaylistOut(
        id=p.id, title=p.title, owner_id=p.owner_id, artwork_url=p.artwork_url,
        private=p.private,
        tracks=[public_track(tracks[i]) for i in p.track_ids if i in tracks],
    )  # fmt: skip


ME = Plan(
    parts=(
        _me_part(),
        Part("playlists", "playlists", "/playlists", into=PlaylistBatch,
             params=lambda i: {"owner": i.vars["user_id"]}, required=False,
             fallback=PlaylistBatch(items=[]), timeout_s=0.3),
    ),
    deadline_s=0.8,
)  # fmt: skip


def shape_me(outcome: PlanResult) -> MeOut:
    me: UserRecord = outcome["me"]
    mine = outcome["playlists"].items  # the service answered owner=<caller>, private ones too
    return MeOut(
        user=public_user(me),
        playlists=[PlaylistSummary(p.id, p.title, len(p.track_ids), p.private) for p in mine],
    )


# -- the application ------------------------------------------------------------------------


def _caller(request: Request) -> dict[str, str]:
    principal = request.principal
    assert principal is not None
    return {"user_id": principal.subject, "kind": principal.kind}


def _user_only(request: Request) -> dict[str, str]:
    caller = _caller(request)
    if caller["kind"] != "user":
        raise Forbidden("this endpoint needs a user token, not an app token")
    return caller


def create() -> BFF:
    """The factory each server worker calls (tailor.serve.workers, or granian)."""
    return build(config_from_env(PROFILE))


def build(config: Any) -> BFF:
    bff = BFF(config)
    bff.post("/v1/oauth/token", auth=False, uses=("accounts",))(
        token_endpoint(AUDIENCE, client_credentials=True)
    )
    document = msgspec.json.encode(openapi_document())

    @bff.get("/v1/openapi.json", auth=False)
    async def openapi(request: Request) -> Response:
        return Response(200, document, [("content-type", "application/json")])

    @bff.get("/v1/tracks/{id}", plan=TRACK)
    async def track(request: Request) -> Response:
        return await run_aggregate(
            request, shape_track, id=request.path_params["id"], **_caller(request)
        )

    @bff.get("/v1/users/{id}", plan=USER)
    async def user(request: Request) -> Response:
        return await run_aggregate(
            request, shape_user, id=request.path_params["id"], **_caller(request)
        )

    @bff.get("/v1/playlists/{id}", plan=PLAYLIST)
    async def playlist(request: Request) -> Response:
        return await run_aggregate(
            request, shape_playlist, id=request.path_params["id"], **_caller(request)
        )

    @bff.get("/v1/me", plan=ME)
    async def me(request: Request) -> Response:
        return await run_aggregate(request, shape_me, **_user_only(request))

    # The catalog's gRPC API, transcoded from its descriptors (docs/grpc.md): built at startup.
    add_catalog_routes(bff)
    return bff


__all__ = ["PROFILE", "build", "create", "json_response"]
