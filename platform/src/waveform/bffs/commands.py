"""Commands every BFF offers the same way (like, repost, follow, playlists, posting a track):
the calls are written once here; each BFF's ``commands`` module mounts them under its prefix
with its own playlist shape (and, on the public API, the scope each one needs).

Nothing is decided here. The catalog service decides whether the caller may like, repost or
post (a track the caller may not see is its 404, as for a read); the social service follows;
the playlists service decides who edits a playlist (403 for someone else's, 404 for one the
caller may not see) and holds its version (412 on a lost update, 428 without If-Match). The
BFF translates: the body it reads, the problem it relays, the ETag it carries across.

    add_command_routes(bff, "/api", shape_playlist)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import msgspec

from tailor import BFF, Json, Plan, PlanResult, Request, Response, aggregate
from tailor.aggregate import AggregateBody
from tailor.chain import Handler
from tailor.commands import decode_body, if_match, send_command, versioned
from tailor.govern.labels import DataClass
from tailor.http import json_response
from waveform.bffs.consumed import Engagement, PlaylistRecord, UserRecord
from waveform.bffs.plans import PLAYLIST

#: A check a BFF makes of the credential before a command (the public API's write scopes);
#: it raises the refusal. ``None``: any signed-in user may send commands.
ScopeCheck = Callable[[Request, str], None]
#: Statuses the command routes answer beyond 200/201 (the services' refusals, relayed, and
#: the edge's own), for the OpenAPI document.
COMMAND_PROBLEMS = (400, 403, 404, 409, 415, 422, 429)
EDIT_PROBLEMS = (*COMMAND_PROBLEMS, 412, 428)
#: A like or repost: the caller's country from users, the decision from catalog.
ENGAGING = ("catalog", "users")


class LikeOut(msgspec.Struct):
    """The caller's like of a track, and the track's likes after it."""

    __data_class__: ClassVar[DataClass] = DataClass.PUBLIC
    track_id: str
    liked: bool
    likes: int


class RepostOut(msgspec.Struct):
    __data_class__: ClassVar[DataClass] = DataClass.PUBLIC
    track_id: str
    reposted: bool


class FollowOut(msgspec.Struct):
    __data_class__: ClassVar[DataClass] = DataClass.PUBLIC
    user_id: str
    following: bool


class NewPlaylistIn(msgspec.Struct, forbid_unknown_fields=True):
    """A playlist to create: its owner is the caller."""

    title: str
    track_ids: list[str] = []
    private: bool = False


class PlaylistEditIn(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """An edit of one's own playlist: add, remove and reorder are all the new ``track_ids``."""

    title: str | None = None
    track_ids: list[str] | None = None


class NewTrackIn(msgspec.Struct, forbid_unknown_fields=True):
    """A track's metadata; the owner is the caller."""

    title: str
    genre: str = ""
    description: str = ""
    duration_ms: int = 180_000
    private: bool = False


class PostedTrack(msgspec.Struct):
    """A track just posted, as the tracks service recorded it."""

    __data_class__: ClassVar[DataClass] = DataClass.PUBLIC
    id: str
    title: str
    owner_id: str
    genre: str
    description: str
    duration_ms: int
    private: bool


class _Relation(msgspec.Struct):
    user_id: str
    following: bool


def playlist_etag(record: PlaylistRecord) -> str:
    """The playlists service's ETag of a version (its form, ``"v<n>"``, is its contract)."""
    return f'"v{record.version}"'


async def _viewer_country(request: Request) -> tuple[tuple[str, str], ...]:
    """The caller's country, for the catalog's geo rule (as the read plans send it)."""
    assert request.upstreams is not None and request.principal is not None
    me = await request.upstreams.get_json(
        "users",
        f"/users/{request.principal.subject}",
        into=UserRecord,
        principal=request.principal,
        request_id=request.request_id,
        allowance=request.allowance,
    )
    return (("x-viewer-country", me.country),)


async def _engage(request: Request, kind: str, on: bool) -> Engagement:
    """Like or repost the track ``{id}`` (or take it back) through the catalog service."""
    track = request.path_params["id"]
    answer = await send_command(
        request,
        "catalog",
        f"/catalog/tracks/{track}/{kind}",
        Engagement,
        method="POST" if on else "DELETE",
        headers=await _viewer_country(request),
    )
    return answer.value


def _screen_vars(request: Request, playlist: str) -> dict[str, str]:
    """A playlist screen's plan variables: the caller (and its kind, for the public API's
    plans) and the playlist."""
    assert request.principal is not None
    return {"user_id": request.principal.subject, "kind": request.principal.kind, "id": playlist}


def versioned_screen(shape: Callable[[PlanResult], AggregateBody]) -> Handler:
    """A playlist screen answered with its version's ETag, for an edit's If-Match."""

    async def screen(request: Request) -> Response:
        assert request.principal is not None
        seen: list[PlaylistRecord] = []

        def shaped(outcome: PlanResult) -> AggregateBody:
            seen.append(outcome["playlist"])
            return shape(outcome)

        response = await aggregate(
            request, shaped, **_screen_vars(request, request.path_params["id"])
        )
        return versioned(response, playlist_etag(seen[0]))

    return screen


def add_command_routes(
    bff: BFF,
    prefix: str,
    shape_playlist: Callable[[PlanResult], AggregateBody],
    playlist_out: type,
    *,
    playlist_plan: Plan = PLAYLIST,
    check: ScopeCheck | None = None,
) -> None:
    """Mount the commands under ``prefix`` (``/api`` on web, ``/v1`` on mobile and public),
    and the playlist screen with its ETag; ``check(request, scope)`` refuses a credential
    without the scope a command needs (the public API's ``likes:write``, ...)."""

    def allowed(request: Request, scope: str) -> None:
        if check is not None:
            check(request, scope)

    async def like(request: Request) -> Json[LikeOut]:
        return await _like(request, True)

    async def unlike(request: Request) -> Json[LikeOut]:
        return await _like(request, False)

    async def _like(request: Request, on: bool) -> Json[LikeOut]:
        allowed(request, "likes:write")
        done = await _engage(request, "like", on)
        return json_response(LikeOut(request.path_params["id"], done.liked, done.likes))

    async def repost(request: Request) -> Json[RepostOut]:
        return await _repost(request, True)

    async def unrepost(request: Request) -> Json[RepostOut]:
        return await _repost(request, False)

    async def _repost(request: Request, on: bool) -> Json[RepostOut]:
        allowed(request, "reposts:write")
        done = await _engage(request, "repost", on)
        return json_response(RepostOut(request.path_params["id"], done.reposted))

    async def follow(request: Request) -> Json[FollowOut]:
        return await _follow(request, True)

    async def unfollow(request: Request) -> Json[FollowOut]:
        return await _follow(request, False)

    async def _follow(request: Request, on: bool) -> Json[FollowOut]:
        allowed(request, "follows:write")
        user = request.path_params["id"]
        answer = await send_command(
            request, "social", f"/social/followings/{user}", _Relation,
            method="PUT" if on else "DELETE",
        )  # fmt: skip
        return json_response(FollowOut(user, answer.value.following))

    async def post_track(request: Request) -> Json[PostedTrack]:
        allowed(request, "tracks:write")
        new = decode_body(request, NewTrackIn)
        answer = await send_command(request, "catalog", "/catalog/tracks", PostedTrack, body=new)
        return json_response(answer.value, status=201)

    async def create_playlist(request: Request) -> Response:
        allowed(request, "playlists:write")
        new = decode_body(request, NewPlaylistIn)
        answer = await send_command(request, "playlists", "/playlists", PlaylistRecord, body=new)
        return await _playlist_answer(request, answer.value.id, answer.etag, 201)

    async def edit_playlist(request: Request) -> Response:
        allowed(request, "playlists:write")
        version = if_match(request)  # 428 here, before any call
        edit = decode_body(request, PlaylistEditIn)
        playlist = request.path_params["id"]
        answer = await send_command(
            request, "playlists", f"/playlists/{playlist}", PlaylistRecord,
            method="PATCH", body=edit, headers=(("if-match", version),),
        )  # fmt: skip
        return await _playlist_answer(request, playlist, answer.etag, 200)

    async def _playlist_answer(
        request: Request, playlist: str, etag: str | None, status: int
    ) -> Response:
        """The playlist as its screen shows it (the route's plan), with the version the
        command made as its ETag."""
        assert request.principal is not None
        response = await aggregate(request, shape_playlist, **_screen_vars(request, playlist))
        response.status = status
        return versioned(response, etag)

    tracks, users, playlists = f"{prefix}/tracks", f"{prefix}/users", f"{prefix}/playlists"
    simple: list[tuple[str, str, Handler, tuple[str, ...]]] = [
        ("POST", f"{tracks}/{{id}}/like", like, ENGAGING),
        ("DELETE", f"{tracks}/{{id}}/like", unlike, ENGAGING),
        ("POST", f"{tracks}/{{id}}/repost", repost, ENGAGING),
        ("DELETE", f"{tracks}/{{id}}/repost", unrepost, ENGAGING),
        ("POST", f"{users}/{{id}}/follow", follow, ("social",)),
        ("DELETE", f"{users}/{{id}}/follow", unfollow, ("social",)),
    ]
    for method, template, handler, uses in simple:
        bff.route(method, template, uses=uses, problems=COMMAND_PROBLEMS)(handler)
    bff.post(tracks, uses=("catalog",), body=NewTrackIn, problems=COMMAND_PROBLEMS, status=201)(
        post_track
    )
    bff.post(
        playlists, plan=playlist_plan, body=NewPlaylistIn, response=playlist_out,
        problems=COMMAND_PROBLEMS, status=201,
    )(create_playlist)  # fmt: skip
    bff.route(
        "PATCH", f"{playlists}/{{id}}", plan=playlist_plan, body=PlaylistEditIn,
        response=playlist_out, problems=EDIT_PROBLEMS,
    )(edit_playlist)  # fmt: skip
