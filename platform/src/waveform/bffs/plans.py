"""Screens both the mobile and the web BFF fetch the same way: one track, one user, one
playlist. What differs between the two BFFs is the shape of the answer, not these calls.

    bff.get("/v1/tracks/{id}", plan=TRACK)(by_id(shape_track))
"""

from __future__ import annotations

from collections.abc import Callable

from tailor import AggregateBody, Part, Plan, PlanResult, Request, Response, aggregate
from tailor.chain import Handler
from waveform.bffs.consumed import EMPTY_REFS, PlaylistRecord, TrackRefs, UserRecord
from waveform.bffs.parts import (
    catalog_batch,
    engagement_part,
    me_part,
    relation_part,
    users_batch,
)

TRACK = Plan(
    parts=(
        me_part(),
        catalog_batch("track", lambda i: [i.vars["id"]], needs=(), required=True),
        users_batch("owner", lambda i: [t.owner_id for t in i["track"].items], needs=("track",)),
        engagement_part(needs=("track",)),
    ),
    deadline_s=1.0,
)


USER = Plan(
    parts=(
        me_part(),
        Part("user", "users", "/users/{id}", into=UserRecord, timeout_s=0.3),
        Part(
            "owned",
            "tracks",
            "/tracks",
            into=TrackRefs,
            params=lambda i: {"owner": i.vars["id"]},
            required=False,
            fallback=EMPTY_REFS,
            timeout_s=0.3,
        ),
        catalog_batch("tracks", lambda i: [r.id for r in i["owned"].items], needs=("owned",)),
        relation_part(needs=("user",)),
    ),
    deadline_s=1.0,
)


PLAYLIST = Plan(
    parts=(
        me_part(),
        Part("playlist", "playlists", "/playlists/{id}", into=PlaylistRecord, timeout_s=0.3),
        catalog_batch("tracks", lambda i: i["playlist"].track_ids, needs=("playlist",)),
        users_batch(
            "people",
            lambda i: [i["playlist"].owner_id] + [t.owner_id for t in i["tracks"].items],
            needs=("playlist", "tracks"),
        ),
    ),
    deadline_s=1.0,
)


def by_id(shape: Callable[[PlanResult], AggregateBody]) -> Handler:
    """The endpoint for one entity screen: the caller and the ``{id}`` path parameter (already
    checked by the handler stage) are the variables of the route's plan."""

    async def screen(request: Request) -> Response:
        assert request.principal is not None, "screens are authenticated routes"
        return await aggregate(
            request, shape, user_id=request.principal.subject, id=request.path_params["id"]
        )

    return screen
