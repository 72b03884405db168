"""The web BFF: routes, plans and shaping over the same services as mobile."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import msgspec

from tailor import BFF, Json, NotFound, Part, Plan, PlanResult, Request, aggregate
from tailor.cache import CachePolicy, tag
from tailor.govern.labels import DataClass
from tailor.params import Query, Token
from tailor.serve.run import config_from_env
from tailor.static import StaticSite
from waveform.bffs.cards import index_tracks, user_card
from waveform.bffs.commands import versioned_screen
from waveform.bffs.consumed import (
    CatalogTrack,
    StreamPage,
    UserRecord,
)
from waveform.bffs.cursors import with_cursor_from
from waveform.bffs.exchange import token_exchange
from waveform.bffs.parts import catalog_batch, me_part, users_batch
from waveform.bffs.plans import PLAYLIST, TRACK, USER, by_id
from waveform.bffs.quotas import rate_limit
from waveform.bffs.token import TOKEN_EXPOSES, TOKEN_ROUTE, token_endpoint
from waveform.bffs.upstreams import DEFAULT_UPSTREAMS, grpc_settings
from waveform.bffs.web.commands import add_commands
from waveform.bffs.web.live import add_live_routes
from waveform.bffs.web.session import add_session_routes
from waveform.bffs.web.shapes import (
    Me,
    PlaylistOut,
    StreamEntry,
    StreamPageOut,
    TrackOut,
    TrackSummary,
    UserOut,
)

PROFILE: dict[str, Any] = {
    "name": "web",
    "listen": {"port": 8082},
    "admin": {"port": 8182},
    # Resilience (docs/resilience.md): the defaults, plus shedding over 256 in flight.
    "resilience": {
        "shed": {"enabled": True, "max_in_flight": 256, "max_queue_wait_s": 0.02},
        "max_calls_per_request": 16,
        "max_page_size": 50,
    },
    # The stream page is cached 5 s per user (and cursor); change events purge it sooner.
    "cache": {"routes": {"/api/stream": {"ttl_s": 5}}},
    "rate_limit": rate_limit("POST /api/auth/token", writes=True),  # docs/rate-limiting.md
    # A session cookie for the browser app; bearer JWTs stay accepted for scripts and the
    # platform tests (a bearer token is never sent by a browser on its own, so it needs no
    # CSRF protection). The cookie is __Host- and Secure: a plain-http deployment (the
    # local demo) must configure a plain name and secure = false.
    "auth": {
        "jwt": {
            "issuer": "waveform-accounts",
            "audience": "waveform-web",
            "jwks_upstream": "accounts",
        },
        "session": {
            "cookie_name": "__Host-waveform-session",
            "allowed_origins": ["https://127.0.0.1:8082", "https://localhost:8082"],
            "client_id": "waveform-webapp",
        },
    },
    "entitlements": {"enabled": True},
    # A retried POST answers its first result (docs/commands.md); the supervisor keeps the
    # keys in Redis when the platform has one, so every instance knows them.
    "commands": {"idempotency": {}},
    # Live updates (docs/live.md): a worker holds up to 10k live connections, each user 8.
    "server": {"max_connections": 12_000},
    "stages": {"live": {"max_per_worker": 10_000, "max_per_user": 8, "max_per_ip": 256}},
    # The API document, generated from the routes (docs/openapi.md).
    # Callers identified by User-Agent (`app/version (platform)`; a browser's is an unknown
    # client): counted per route and version on the admin port (docs/clients.md).
    "clients": {"source": "user-agent"},
    "openapi": {"path": "/api/openapi.json", "title": "waveform web BFF"},
    # Personal and sensitive fields its responses may carry, and why (docs/governance.md).
    "governance": {
        "expose": [
            *TOKEN_EXPOSES,
            {
                "field": "UserOut.city",
                "reason": "a profile shows the city its user chose to publish there",
            },
            {
                "field": "Me.city",
                "reason": "the signed-in user's own profile, shown to that user",
            },
            {
                "field": "SessionOut.csrf_token",
                "reason": "the page sends it back on writes (double submit): the session's own",
            },
        ]
    },
    "upstreams": {**DEFAULT_UPSTREAMS, "tokens": "http://127.0.0.1:9011"},
    "grpc": grpc_settings(),  # for the upstreams a deployment sets to grpc://
    "token_exchange": token_exchange("web"),  # inward as itself, never as the client
}

PAGE = 20
#: The single-page app served at "/" (docs/web-client.md): plain ES modules, no build step.
CLIENT = Path(__file__).with_name("client")


def summary(track: CatalogTrack) -> TrackSummary:
    return TrackSummary(
        track.id,
        track.title,
        track.owner_id,
        track.duration_ms,
        track.artwork_url,
        track.media.stream_url,
    )


ME = Plan(parts=(me_part(),), deadline_s=0.5)


def shape_me(outcome: PlanResult) -> Me:
    u: UserRecord = outcome["me"]
    return Me(
        id=u.id,
        username=u.username,
        display_name=u.display_name,
        avatar_url=u.avatar_url,
        bio=u.bio,
        city=u.city,
        followers_count=u.followers_count,
        followings_count=u.followings_count,
        track_count=u.track_count,
    )


def _stream_params(inputs: Any) -> dict[str, str | int]:
    params: dict[str, str | int] = {"limit": PAGE}
    cursor = inputs.vars.get("cursor")
    if cursor:
        params["cursor"] = cursor  # passed through as is: the BFF never paginates itself
    return params


STREAM = Plan(
    parts=(
        me_part(),
        Part("stream", "stream", "/stream/{user_id}", into=StreamPage, params=_stream_params,
             timeout_s=0.4),
        catalog_batch("tracks", lambda i: [x.track_id for x in i["stream"].items],
                      needs=("stream",)),
        users_batch(
            "people",
            lambda i: [x.actor_id for x in i["stream"].items]
            + [t.owner_id for t in i["tracks"].items],
            needs=("stream", "tracks"),
        ),
    ),
    deadline_s=1.0,
)  # fmt: skip


def shape_stream(outcome: PlanResult) -> StreamPageOut:
    page: StreamPage = outcome["stream"]
    tracks = index_tracks(outcome["tracks"].items)
    return StreamPageOut(
        items=[
            StreamEntry(i.id, i.type, i.created_at, i.actor_id, i.track_id)
            for i in page.items
            if i.track_id in tracks
        ],
        tracks={t.id: summary(t) for t in tracks.values()},
        users={u.id: user_card(u) for u in outcome["people"].items},
        next_cursor=page.next_cursor,
    )


def shape_track(outcome: PlanResult) -> TrackOut:
    found: list[CatalogTrack] = outcome["track"].items
    if not found:
        raise NotFound("no such track")
    t = found[0]
    return TrackOut(
        id=t.id,
        title=t.title,
        description=t.description,
        genre=t.genre,
        owner_id=t.owner_id,
        duration_ms=t.duration_ms,
        artwork_url=t.artwork_url,
        stream_url=t.media.stream_url,
        preview_url=t.media.preview_url,
        like_count=t.like_count,
        users={u.id: user_card(u) for u in outcome["owner"].items},
        liked=outcome["engagement"].liked,
        reposted=outcome["engagement"].reposted,
        likes=outcome["engagement"].likes,
    )


def shape_user(outcome: PlanResult) -> UserOut:
    u: UserRecord = outcome["user"]
    return UserOut(
        id=u.id,
        username=u.username,
        display_name=u.display_name,
        avatar_url=u.avatar_url,
        bio=u.bio,
        city=u.city,
        followers_count=u.followers_count,
        followings_count=u.followings_count,
        tracks=[summary(t) for t in outcome["tracks"].items],
        following=outcome["relation"].following,
    )


class PlaylistRecord(msgspec.Struct):
    """A playlist the caller may see: the playlists service answers a private one only to
    its owner (the same 404 as a missing one otherwise), so the BFF only shapes it."""

    __data_class__: ClassVar[DataClass] = DataClass.PUBLIC
    id: str
    title: str
    owner_id: str
    track_ids: list[str]
    artwork_url: str = ""


def shape_playlist(outcome: PlanResult) -> PlaylistOut:
    p: PlaylistRecord = outcome["playlist"]
    tracks = index_tracks(outcome["tracks"].items)
    return PlaylistOut(
        id=p.id,
        title=p.title,
        owner_id=p.owner_id,
        artwork_url=p.artwork_url,
        track_ids=[i for i in p.track_ids if i in tracks],
        tracks={t.id: summary(t) for t in tracks.values()},
        users={u.id: user_card(u) for u in outcome["people"].items},
    )


class StreamQuery(Query):
    cursor = Token()


#: Per user (and app) and cursor; the profile sets the TTL.
STREAM_CACHE = CachePolicy(scope="user", stale_while_revalidate_s=5, stale_if_error_s=60)


def create() -> BFF:
    """The factory each server worker calls (tailor.serve.workers, or granian)."""
    return build(config_from_env(PROFILE))


def build(config: Any) -> BFF:
    bff = BFF(config)
    bff.post("/api/auth/token", auth=False, uses=("accounts",), **TOKEN_ROUTE)(
        token_endpoint("waveform-web")
    )
    live = add_live_routes(bff)
    add_session_routes(bff, on_logout=live.end_session)
    bff.add_stage(StaticSite(CLIENT), before="route")

    def caller(request: Request) -> str:
        assert request.principal is not None
        return request.principal.subject

    @bff.get("/api/me", plan=ME)
    async def me(request: Request) -> Json[Me]:
        return await aggregate(request, shape_me, user_id=caller(request))

    @bff.get("/api/stream", plan=STREAM, query=StreamQuery, cache=STREAM_CACHE)
    async def stream(request: Request) -> Json[StreamPageOut]:
        cursor = StreamQuery.of(request).cursor or ""
        tag(request, f"feed:{caller(request)}")
        return await with_cursor_from(
            "stream",
            aggregate(request, shape_stream, user_id=caller(request), cursor=cursor),
        )

    bff.get("/api/tracks/{id}", plan=TRACK, response=TrackOut)(by_id(shape_track))
    bff.get("/api/users/{id}", plan=USER, response=UserOut)(by_id(shape_user))
    bff.get("/api/playlists/{id}", plan=PLAYLIST, response=PlaylistOut)(
        versioned_screen(shape_playlist)
    )
    add_commands(bff, shape_playlist)

    return bff
