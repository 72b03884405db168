"""Parts both BFFs fetch the same way. What differs between BFFs is the shape of the answer,
not how a user or a batch of tracks is fetched.

The viewer's identity travels inward only as the subject of the internal token; the viewer's
country as ``x-viewer-country``, a header the edge sets itself (the sanitize stage drops it
from clients). The catalog service decides visibility from the two.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace

from tailor import Inputs, Part
from waveform.bffs.consumed import (
    EMPTY_RECOMMENDATIONS,
    EMPTY_STREAM,
    EMPTY_TRACKS,
    EMPTY_USERS,
    NO_ENGAGEMENT,
    NO_RELATION,
    CatalogBatch,
    Engagement,
    Recommendations,
    Relation,
    StreamPage,
    UserBatch,
    UserRecord,
)

MAX_BATCH = 100

IdsFrom = Callable[[Inputs], Iterable[str]]


def unique(ids: Iterable[str], limit: int = MAX_BATCH) -> list[str]:
    """Ids in first-seen order, without repeats, at most ``limit`` (one batch call)."""
    return list(dict.fromkeys(ids))[:limit]


def viewer_headers(inputs: Inputs) -> Sequence[tuple[str, str]]:
    me: UserRecord = inputs["me"]
    return (("x-viewer-country", me.country),)


def me_part(timeout_s: float = 0.3) -> Part:
    """The caller's own user record: needed for the viewer's country, so always required."""
    return Part("me", "users", "/users/{user_id}", into=UserRecord, timeout_s=timeout_s)


def catalog_batch(
    name: str, ids_from: IdsFrom, needs: tuple[str, ...], *, required: bool = False
) -> Part:
    """Tracks the caller may see, in one batch call; hidden ones are simply absent."""

    def params(inputs: Inputs) -> dict[str, str | int] | None:
        ids = unique(ids_from(inputs))
        return {"ids": ",".join(ids)} if ids else None

    return Part(
        name,
        "catalog",
        "/catalog/tracks",
        into=CatalogBatch,
        params=params,
        needs=("me", *needs),
        headers=viewer_headers,
        required=required,
        fallback=EMPTY_TRACKS,
        timeout_s=0.4,
    )


def users_batch(name: str, ids_from: IdsFrom, needs: tuple[str, ...]) -> Part:
    """User cards for the people a response mentions, in one batch call."""

    def params(inputs: Inputs) -> dict[str, str | int] | None:
        ids = unique(ids_from(inputs))
        return {"ids": ",".join(ids)} if ids else None

    return Part(
        name,
        "users",
        "/users",
        into=UserBatch,
        params=params,
        needs=needs,
        required=False,
        fallback=EMPTY_USERS,
        timeout_s=0.3,
    )


def engagement_part(needs: tuple[str, ...] = ()) -> Part:
    """The caller's like and repost of the track ``{id}``, and its likes: optional (a screen
    without them is degraded, not failed), asked only after ``needs`` (the visibility check:
    nothing is asked about a track the caller may not see)."""
    return Part(
        "engagement", "social", "/social/tracks/{id}/engagement", into=Engagement,
        needs=needs, required=False, fallback=NO_ENGAGEMENT, timeout_s=0.3,
    )  # fmt: skip


def relation_part(needs: tuple[str, ...] = ()) -> Part:
    """Whether the caller follows the user ``{id}``: optional, like :func:`engagement_part`."""
    return Part(
        "relation", "social", "/social/users/{id}/relation", into=Relation,
        needs=needs, required=False, fallback=NO_RELATION, timeout_s=0.3,
    )  # fmt: skip


# -- a home: the caller's stream and recommendations, and the tracks they name ---------------


def stream_part(limit: int) -> Part:
    """The first page of the caller's stream: optional, and when the service fails, the last
    page the caller got (marked stale) rather than an empty one."""
    return Part(
        "stream", "stream", "/stream/{user_id}", into=StreamPage, params={"limit": limit},
        required=False, fallback=EMPTY_STREAM, last_good="user", timeout_s=0.4,
    )  # fmt: skip


def recs_part(limit: int) -> Part:
    """Tracks recommended to the caller: optional, the last good answer like the stream's."""
    return Part(
        "recs", "recommendations", "/recommendations/{user_id}", into=Recommendations,
        params={"limit": limit}, required=False, fallback=EMPTY_RECOMMENDATIONS,
        last_good="user", timeout_s=0.3,
    )  # fmt: skip


def home_track_ids(inputs: Inputs) -> list[str]:
    """The tracks the stream and the recommendations name, stream first."""
    stream: StreamPage = inputs["stream"]
    recs: Recommendations = inputs["recs"]
    return [i.track_id for i in stream.items] + [r.track_id for r in recs.items]


def home_tracks_part() -> Part:
    """The stream's and recommendations' tracks the caller may see, as ``tracks``."""
    return replace(
        catalog_batch("tracks", home_track_ids, needs=("stream", "recs")), last_good="user"
    )
