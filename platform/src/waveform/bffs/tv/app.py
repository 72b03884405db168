"""The TV BFF (port 8085, admin 8185): one call per screen, each a denormalized,
pre-rendered payload a ten-foot UI draws as given (:mod:`waveform.bffs.tv.shapes`).

- ``GET /v1/screens/home``: rails of tiles (from the people the caller follows, for you);
- ``GET /v1/screens/tracks/{id}``: a track's hero and a rail of more from its artist;
- ``POST /v1/auth/token``: sign-in (password or refresh grant), audience ``waveform-tv``.

TVs are slow to update and slower to parse: the BFF formats every string (durations, counts,
credits), embeds every name a tile shows, and gives each tile the action it runs, so a screen
is one request and no client-side join. Made with ``python -m tailor new tv`` (docs/scaffold.md).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from tailor import BFF, Inputs, Json, NotFound, Part, Plan, PlanResult, Request, aggregate
from tailor.aggregate import BUDGET
from tailor.cache import CachePolicy, tag
from tailor.serve.run import config_from_env
from waveform.bffs.consumed import (
    EMPTY_REFS,
    CatalogTrack,
    Recommendations,
    StreamPage,
    TrackRefs,
    UserRecord,
)
from waveform.bffs.exchange import token_exchange
from waveform.bffs.parts import (
    catalog_batch,
    home_tracks_part,
    me_part,
    recs_part,
    stream_part,
    users_batch,
)
from waveform.bffs.quotas import rate_limit
from waveform.bffs.token import TOKEN_EXPOSES, TOKEN_ROUTE, token_endpoint
from waveform.bffs.tv.render import count, duration
from waveform.bffs.tv.shapes import Action, Hero, HomeScreen, Rail, Tile, TrackScreen
from waveform.bffs.upstreams import DEFAULT_UPSTREAMS, grpc_settings

AUDIENCE = "waveform-tv"
PROFILE: dict[str, Any] = {
    "name": "tv",
    "listen": {"port": 8085},
    "admin": {"port": 8185},  # metrics, scraped as job "tv" (docs/slo.md)
    # The home is cached 60 s per user; change events purge it sooner (docs/caching.md).
    "cache": {"routes": {"/v1/screens/home": {"ttl_s": 60}}},
    # Whole screens are big and TVs sit on home Wi-Fi: compressed when the app asks.
    "compression": {"enabled": True},
    "rate_limit": rate_limit("POST /v1/auth/token", writes=False),  # docs/rate-limiting.md
    # Pinned to the TV audience: a mobile or web token is refused here (401).
    "auth": {
        "jwt": {"issuer": "waveform-accounts", "audience": AUDIENCE, "jwks_upstream": "accounts"}
    },
    "openapi": {"path": "/openapi.json", "title": "waveform TV BFF"},
    "governance": {"expose": TOKEN_EXPOSES},
    "upstreams": {**DEFAULT_UPSTREAMS, "tokens": "http://127.0.0.1:9011"},
    "grpc": grpc_settings(),  # for the upstreams a deployment sets to grpc://
    "token_exchange": token_exchange("tv"),  # inward as itself, never as the client
}

RAIL_SIZE = 20
TRACK_SCREEN = "/v1/screens/tracks/{}"

# -- tiles ------------------------------------------------------------------------------------


def _artist(track: CatalogTrack, people: dict[str, UserRecord]) -> str:
    owner = people.get(track.owner_id)
    return owner.display_name or owner.username if owner is not None else ""


def track_tile(track: CatalogTrack, people: dict[str, UserRecord]) -> Tile:
    """A track's tile: OK opens its screen."""
    return Tile(
        title=track.title,
        subtitle=_artist(track, people),
        badge=duration(track.duration_ms),
        image_url=track.artwork_url,
        action=Action("open", TRACK_SCREEN.format(track.id)),
    )


def _rail(rail_id: str, title: str, ids: list[str], outcome: PlanResult) -> Rail:
    """A rail of the tracks ``ids`` the catalog let the caller see, in order, once each."""
    tracks = {t.id: t for t in outcome["tracks"].items}
    people = {u.id: u for u in outcome["people"].items}
    shown = [tracks[i] for i in dict.fromkeys(ids) if i in tracks][:RAIL_SIZE]
    return Rail(rail_id, title, [track_tile(t, people) for t in shown])


# -- home -------------------------------------------------------------------------------------


HOME = Plan(
    parts=(
        me_part(timeout_s=BUDGET),
        stream_part(RAIL_SIZE),
        recs_part(RAIL_SIZE),
        home_tracks_part(),
        replace(users_batch("people", lambda i: [t.owner_id for t in i["tracks"].items],
                            needs=("tracks",)), last_good="user", timeout_s=BUDGET),
    ),
    deadline_s=1.0,
)  # fmt: skip


def shape_home(outcome: PlanResult) -> HomeScreen:
    me: UserRecord = outcome["me"]
    stream: StreamPage = outcome["stream"]
    recs: Recommendations = outcome["recs"]
    rails = [
        _rail("following", "From people you follow", [i.track_id for i in stream.items], outcome),
        _rail("for-you", "For you", [r.track_id for r in recs.items], outcome),
    ]
    return HomeScreen(
        title=f"Welcome back, {me.display_name or me.username}",
        rails=[r for r in rails if r.tiles],  # a TV draws no empty row
    )


# -- track --------------------------------------------------------------------------------------


def _more_ids(inputs: Inputs) -> list[str]:
    refs: TrackRefs = inputs["owned"]
    return [inputs.vars["id"], *(r.id for r in refs.items)]


TRACK = Plan(
    parts=(
        me_part(),
        catalog_batch("track", lambda i: [i.vars["id"]], needs=(), required=True),
        Part("owned", "tracks", "/tracks", into=TrackRefs, needs=("track",),
             params=lambda i: {"owner": t[0].owner_id, "limit": RAIL_SIZE + 1}
             if (t := i["track"].items) else None,
             required=False, fallback=EMPTY_REFS, timeout_s=0.3),
        catalog_batch("tracks", _more_ids, needs=("owned",)),
        users_batch("people", lambda i: [t.owner_id for t in i["track"].items],
                    needs=("track",)),
    ),
    deadline_s=1.0,
)  # fmt: skip


def shape_track(outcome: PlanResult) -> TrackScreen:
    found: list[CatalogTrack] = outcome["track"].items
    if not found:
        raise NotFound("no such track")
    track = found[0]
    people = {u.id: u for u in outcome["people"].items}
    artist = _artist(track, people)
    facts = [track.genre, duration(track.duration_ms), count(track.like_count, "like")]
    more = [r.id for r in outcome["owned"].items if r.id != track.id]
    return TrackScreen(
        hero=Hero(
            title=track.title,
            subtitle=artist,
            description=track.description,
            facts=[f for f in facts if f],
            image_url=track.artwork_url,
            play=Action("play", track.media.stream_url),
        ),
        rails=[r for r in [_rail("more", f"More from {artist}", more, outcome)] if r.tiles],
    )


# -- the application ------------------------------------------------------------------------

#: Per user; served stale while refreshing for 30 s, and for 5 min when the services fail.
HOME_CACHE = CachePolicy(scope="user", stale_while_revalidate_s=30, stale_if_error_s=300)


def build(config: Any) -> BFF:
    bff = BFF(config)
    bff.post("/v1/auth/token", auth=False, uses=("accounts",), **TOKEN_ROUTE)(
        token_endpoint(AUDIENCE)
    )

    @bff.get("/v1/screens/home", plan=HOME, cache=HOME_CACHE)
    async def home(request: Request) -> Json[HomeScreen]:
        """The home screen: rails of tiles, ready to draw"""
        assert request.principal is not None
        user = request.principal.subject
        tag(request, f"feed:{user}", f"user:{user}")  # purged by change events
        return await aggregate(request, shape_home, user_id=user)

    @bff.get("/v1/screens/tracks/{id}", plan=TRACK)
    async def track(request: Request) -> Json[TrackScreen]:
        """A track's screen: its hero and more from its artist"""
        assert request.principal is not None
        return await aggregate(
            request, shape_track, user_id=request.principal.subject, id=request.path_params["id"]
        )

    return bff


def create() -> BFF:
    """The factory each server worker calls (tailor.serve.workers, or granian)."""
    return build(config_from_env(PROFILE))
