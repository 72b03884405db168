"""A BFF that aggregates: one screen from two services, for signed-in callers, cached.

``GET /v1/profile?tracks=5`` answers the caller's card and titles of their latest tracks in one
round trip. The two calls run in parallel; losing the tracks still answers 200 (marked
degraded), losing the user is a 502 problem. Callers present a bearer JWT from the identity
provider; each caller's screen is cached 30 s at the edge.

    python aggregating_bff.py --config profile.toml

Its tests (tests/examples/test_aggregating_bff.py) run it at the transport seam, with canned
upstream answers (:mod:`tailor.testing`).
"""

from __future__ import annotations

import sys
from typing import Any

import msgspec

from tailor import (
    BFF,
    AggregateBody,
    CachePolicy,
    Config,
    Inputs,
    Int,
    Json,
    Part,
    Plan,
    PlanResult,
    Query,
    Request,
    aggregate,
    config_from_env,
    main,
    tag,
)

# -- the profile: config defaults, a deployment file (--config) is merged over it ----------

PROFILE: dict[str, Any] = {
    "name": "profile",
    "listen": {"port": 8091},
    "upstreams": {
        "users": "http://127.0.0.1:9002",
        "tracks": "http://127.0.0.1:9003",
        "identity": "https://id.example.com",  # the identity provider: serves the JWKS
    },
    "auth": {
        "jwt": {
            "issuer": "https://id.example.com",
            "audience": "profile-bff",
            "jwks_upstream": "identity",
            "jwks_path": "/.well-known/jwks.json",
        }
    },
    "openapi": {"path": "/openapi.json"},  # serve the API document (docs/openapi.md)
}

# -- consumed structs: only the fields this BFF reads ---------------------------------------


class User(msgspec.Struct, gc=False):
    id: str
    username: str
    avatar_url: str


class Track(msgspec.Struct, gc=False):
    id: str
    title: str


class TrackPage(msgspec.Struct, gc=False):
    items: list[Track]


# -- the plan: which calls make up the screen ------------------------------------------------


def latest_tracks(inputs: Inputs) -> dict[str, str | int]:
    return {"owner": inputs.vars["user_id"], "limit": inputs.vars["limit"]}


PROFILE_SCREEN = Plan(
    parts=(
        Part("me", "users", "/users/{user_id}", into=User, timeout_s=0.3),
        Part(
            "tracks",
            "tracks",
            "/tracks",
            into=TrackPage,
            params=latest_tracks,
            required=False,
            fallback=TrackPage(items=[]),
        ),
    ),
    deadline_s=1.0,
)

# -- the shape: what the client receives -----------------------------------------------------


class ProfileScreen(AggregateBody, kw_only=True):
    username: str
    avatar_url: str
    tracks: list[str]


def shape_profile(outcome: PlanResult) -> ProfileScreen:
    me: User = outcome["me"]
    page: TrackPage = outcome["tracks"]
    return ProfileScreen(
        username=me.username,
        avatar_url=me.avatar_url,
        tracks=[track.title for track in page.items],
    )


# -- the route -------------------------------------------------------------------------------


class ProfileQuery(Query):
    tracks = Int(5, 1, 20)  # how many of the latest tracks; absent: 5; else a 400


PROFILE_CACHE = CachePolicy(scope="user", ttl_s=30)


def build(config: Config) -> BFF:
    bff = BFF(config)

    @bff.get("/v1/profile", plan=PROFILE_SCREEN, query=ProfileQuery, cache=PROFILE_CACHE)
    async def profile(request: Request) -> Json[ProfileScreen]:
        assert request.principal is not None  # routes require authentication by default
        user = request.principal.subject
        tag(request, f"user:{user}")  # a change event naming this tag purges the entry
        limit = ProfileQuery.of(request).tracks
        return await aggregate(request, shape_profile, user_id=user, limit=str(limit))

    return bff


def create() -> BFF:
    """What each server worker calls."""
    return build(config_from_env(PROFILE))


if __name__ == "__main__":
    sys.exit(main("aggregating_bff:create", PROFILE))
