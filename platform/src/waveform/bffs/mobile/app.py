"""The mobile BFF: routes, plans and shaping. Everything else is tailor.

``GET /v1/home`` is one round trip for the whole home screen: the caller's card, the first
stream page with track and user cards embedded, recommendations and the caller's playlists.
``GET /v2/home`` is the redesign (the same plan and cards, laid out as shelves); v1 stays for
the builds in the field, deprecated (docs/clients.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any, TypeVar

from tailor import BFF, AggregateBody, Inputs, Json, Part, Plan, PlanResult, Request, aggregate
from tailor.aggregate import BUDGET
from tailor.cache import CachePolicy, tag
from tailor.serve.run import config_from_env
from waveform.bffs.cards import UserCard, index_tracks, index_user_cards, user_card
from waveform.bffs.client_version import ClientVersionStage
from waveform.bffs.commands import versioned_screen
from waveform.bffs.consumed import (
    EMPTY_PLAYLISTS,
    CatalogTrack,
    PlaylistBatch,
    PlaylistRecord,
    StreamPage,
    UserRecord,
)
from waveform.bffs.exchange import token_exchange
from waveform.bffs.mobile.commands import add_commands
from waveform.bffs.mobile.shapes import (
    Home,
    HomeV2,
    PlaylistCard,
    PlaylistScreen,
    PlaylistShelf,
    StreamCard,
    StreamSection,
    StreamShelf,
    TrackCard,
    TrackScreen,
    TrackShelf,
    UserScreen,
)
from waveform.bffs.mobile.workarounds import TRANSFORMS
from waveform.bffs.parts import home_tracks_part, me_part, recs_part, stream_part, users_batch
from waveform.bffs.plans import PLAYLIST, TRACK, USER, by_id
from waveform.bffs.quotas import rate_limit
from waveform.bffs.token import TOKEN_EXPOSES, TOKEN_ROUTE, password_grant
from waveform.bffs.upstreams import DEFAULT_UPSTREAMS, grpc_settings

PROFILE: dict[str, Any] = {
    "name": "mobile",
    "listen": {"port": 8081},
    "admin": {"port": 8181},
    # Phones prefer JSON over HTTP/2: h2c on listen.port, h2 over TLS where the deployment
    # gives listen.tls (the demo does: docs/http2.md).
    "server": {"http2": True},
    # Resilience (docs/resilience.md): a short breaker cool-down with one probe, shedding over
    # 256 requests in flight, and up to 10 min of last-known-good content for the home screen.
    "resilience": {
        "default": {"breaker": {"min_calls": 10, "cool_down_s": 2.0}},
        "shed": {"enabled": True, "max_in_flight": 256, "max_queue_wait_s": 0.02},
        "last_good": {"max_entries": 20_000, "max_age_s": 600},
        "max_calls_per_request": 16,
        "max_page_size": 50,
    },
    # The home screen is cached 60 s per user; change events purge it sooner (docs/caching.md).
    "cache": {"routes": {"/v1/home": {"ttl_s": 60}, "/v2/home": {"ttl_s": 60}}},
    # Phones pay for bytes and radio time: answers are compressed when the app asks (zstd,
    # br or gzip), and the cached home keeps each coding (docs/compression.md).
    "compression": {"enabled": True},
    "rate_limit": rate_limit("POST /v1/auth/token", writes=True),  # docs/rate-limiting.md
    # The app says its build in X-Client-Version ("3.2.0", or "waveform/3.2.0 (Android 14)"):
    # counted per route, told that v1 home is deprecated (docs/clients.md), and given the
    # workarounds its build needs (waveform/bffs/mobile/workarounds.py).
    "clients": {
        "source": "header",
        "header": "x-client-version",
        "app": "waveform",
        "deprecations": {
            "/v1/home": {
                "deprecated": "2026-12-01",
                "sunset": "2027-06-30",
                "link": "https://developers.waveform.example/changes/home-v2",
                "max_share_at_sunset": 0.02,
            }
        },
        "workarounds": {
            "android-duration-s": {
                "app": "waveform",
                "platform": "android",
                "versions": ">=3.0, <3.4",
                "routes": ["/v1/home"],
                "transform": "restore_duration_s",
                "owner": "mobile-android@waveform.example",
                "expires": "2027-06-30",
                "reason": "3.0-3.3 read duration_s, dropped from track cards in 3.4",
            }
        },
    },
    # App builds older than this are told to update (426) before anything else is asked of
    # them: see waveform/bffs/client_version.py and docs/extending.md.
    "stages": {"client_version": {"minimum": "3.0.0"}},
    # Pinned to the mobile audience: a web or public token is refused here (401).
    "auth": {
        "jwt": {
            "issuer": "waveform-accounts",
            "audience": "waveform-mobile",
            "jwks_upstream": "accounts",
        }
    },
    # The app registry decides which app may call which route (narrow-widget: one route).
    "entitlements": {"enabled": True},
    # A retried POST answers its first result (docs/commands.md).
    "commands": {"idempotency": {}},
    # The API document, generated from the routes (docs/openapi.md).
    "openapi": {"path": "/openapi.json", "title": "waveform mobile BFF"},
    # Personal and sensitive fields its responses may carry, and why (docs/governance.md).
    "governance": {
        "expose": [
            *TOKEN_EXPOSES,
            {
                "field": "UserScreen.city",
                "reason": "a profile shows the city its user chose to publish there",
            },
        ]
    },
    "upstreams": {**DEFAULT_UPSTREAMS, "tokens": "http://127.0.0.1:9011"},
    "grpc": grpc_settings(),  # for the upstreams a deployment sets to grpc://
    "token_exchange": token_exchange("mobile"),  # inward as itself, never as the client
}

STREAM_PAGE = 20
RECOMMENDATIONS = 10

# -- home ---------------------------------------------------------------------------------


def _home_people(inputs: Inputs) -> list[str]:
    stream: StreamPage = inputs["stream"]
    tracks = inputs["tracks"].items
    return [i.actor_id for i in stream.items] + [t.owner_id for t in tracks]


# The caller's record is required (no home without it) and the people on the screen come
# from the same users service after two hops: both take what the deadline has left rather
# than a fixed 0.3 s, so a slow but answering users service gives a late but complete home
# instead of a 504 with most of the second unspent (docs/resilience.md).
HOME = Plan(
    parts=(
        me_part(timeout_s=BUDGET),
        stream_part(STREAM_PAGE),
        recs_part(RECOMMENDATIONS),
        Part(
            "playlists",
            "playlists",
            "/playlists",
            into=PlaylistBatch,
            params=lambda inputs: {"owner": inputs.vars["user_id"]},
            required=False,
            fallback=EMPTY_PLAYLISTS,
            last_good="user",  # an upstream down: show the last content, marked stale
            timeout_s=0.3,
        ),
        home_tracks_part(),
        replace(
            users_batch("people", _home_people, needs=("stream", "tracks")),
            last_good="user",
            timeout_s=BUDGET,
        ),
    ),
    deadline_s=1.0,
)


def _track_card(track: CatalogTrack, people: dict[str, UserCard]) -> TrackCard:
    return TrackCard(
        track.id,
        track.title,
        track.duration_ms,
        track.artwork_url,
        track.media.stream_url,
        people.get(track.owner_id),
    )


def _playlist_card(playlist: PlaylistRecord) -> PlaylistCard:
    return PlaylistCard(playlist.id, playlist.title, len(playlist.track_ids), playlist.artwork_url)


def _stream_cards(outcome: PlanResult) -> tuple[list[StreamCard], list[TrackCard]]:
    """The home's stream and recommended track cards, which both versions show."""
    tracks = index_tracks(outcome["tracks"].items)
    people = index_user_cards(outcome["people"].items)
    stream: StreamPage = outcome["stream"]
    cards = [
        StreamCard(
            item.id,
            item.type,
            item.created_at,
            people.get(item.actor_id),
            _track_card(tracks[item.track_id], people),
        )
        for item in stream.items
        if item.track_id in tracks  # hidden tracks are absent from the catalog's answer
    ]
    recs = [
        _track_card(tracks[r.track_id], people)
        for r in outcome["recs"].items
        if r.track_id in tracks
    ]
    return cards, recs


def shape_home(outcome: PlanResult) -> Home:
    cards, recs = _stream_cards(outcome)
    return Home(
        me=user_card(outcome["me"]),
        stream=StreamSection(cards, outcome["stream"].next_cursor),
        recommendations=recs,
        playlists=[_playlist_card(p) for p in outcome["playlists"].items],
    )


def shape_home_v2(outcome: PlanResult) -> HomeV2:
    """The redesign: v1's cards, as shelves in the order the app draws them."""
    cards, recs = _stream_cards(outcome)
    playlists = outcome["playlists"].items
    return HomeV2(
        me=user_card(outcome["me"]),
        shelves=[
            StreamShelf("From people you follow", cards, outcome["stream"].next_cursor),
            TrackShelf("For you", recs),
            PlaylistShelf("Your playlists", [_playlist_card(p) for p in playlists]),
        ],
    )


_Screen = TypeVar("_Screen", bound=AggregateBody)


async def _home(request: Request, shape: Callable[[PlanResult], _Screen]) -> Json[_Screen]:
    assert request.principal is not None
    user = request.principal.subject
    # What the screen depends on, for event-driven invalidation.
    tag(request, f"feed:{user}", f"user:{user}", f"playlists:{user}")
    return await aggregate(request, shape, user_id=user)


# -- track, user, playlist screens -------------------------------------------------------


def shape_track(outcome: PlanResult) -> TrackScreen:
    found: list[CatalogTrack] = outcome["track"].items
    if not found:
        from tailor import NotFound

        raise NotFound("no such track")
    t = found[0]
    owners = outcome["owner"].items
    return TrackScreen(
        id=t.id,
        title=t.title,
        description=t.description,
        genre=t.genre,
        duration_ms=t.duration_ms,
        artwork_url=t.artwork_url,
        stream_url=t.media.stream_url,
        preview_url=t.media.preview_url,
        like_count=t.like_count,
        owner=user_card(owners[0]) if owners else None,
        liked=outcome["engagement"].liked,
        reposted=outcome["engagement"].reposted,
        likes=outcome["engagement"].likes,
    )


def shape_user(outcome: PlanResult) -> UserScreen:
    user: UserRecord = outcome["user"]
    owner_only = {user.id: user_card(user)}
    return UserScreen(
        id=user.id,
        username=user.username,
        display_name=user.display_name,
        avatar_url=user.avatar_url,
        bio=user.bio,
        city=user.city,
        followers_count=user.followers_count,
        followings_count=user.followings_count,
        tracks=[_track_card(t, owner_only) for t in outcome["tracks"].items],
        following=outcome["relation"].following,
    )


def shape_playlist(outcome: PlanResult) -> PlaylistScreen:
    playlist: PlaylistRecord = outcome["playlist"]
    people = index_user_cards(outcome["people"].items)
    tracks = index_tracks(outcome["tracks"].items)
    return PlaylistScreen(
        id=playlist.id,
        title=playlist.title,
        artwork_url=playlist.artwork_url,
        owner=people.get(playlist.owner_id),
        tracks=[_track_card(tracks[i], people) for i in playlist.track_ids if i in tracks],
    )


# -- the application ------------------------------------------------------------------------


#: Per user (and app); served stale while refreshing for 30 s, and for 5 min when the
#: services fail. The profile sets the TTL.
HOME_CACHE = CachePolicy(scope="user", stale_while_revalidate_s=30, stale_if_error_s=300)


def create() -> BFF:
    """The factory each server worker calls (tailor.serve.workers, or granian)."""
    return build(config_from_env(PROFILE))


def build(config: Any) -> BFF:
    bff = BFF(config)
    bff.add_stage(ClientVersionStage, after="clients")
    for name, transform in TRANSFORMS.items():
        bff.add_transform(name, transform)
    bff.post("/v1/auth/token", auth=False, uses=("accounts",), **TOKEN_ROUTE)(
        password_grant("waveform-mobile")
    )

    @bff.get("/v1/home", plan=HOME, cache=HOME_CACHE)
    async def home(request: Request) -> Json[Home]:
        return await _home(request, shape_home)

    @bff.get("/v2/home", plan=HOME, cache=HOME_CACHE)
    async def home_v2(request: Request) -> Json[HomeV2]:
        return await _home(request, shape_home_v2)

    bff.get("/v1/tracks/{id}", plan=TRACK, response=TrackScreen)(by_id(shape_track))
    bff.get("/v1/users/{id}", plan=USER, response=UserScreen)(by_id(shape_user))
    bff.get("/v1/playlists/{id}", plan=PLAYLIST, response=PlaylistScreen)(
        versioned_screen(shape_playlist)
    )
    add_commands(bff, shape_playlist)
    return bff
