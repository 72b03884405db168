"""Commands at the edge: a like relayed to the service that decides it, safe to retry with
``Idempotency-Key``, and a playlist edit that names the version it is based on (``If-Match``).

    python command_bff.py      # serves on 127.0.0.1:8093 (the services it calls must run)

The BFF decides nothing: the social service answers 404 for a track the caller may not see,
the playlists service 412 for a lost update; :func:`tailor.commands.send_command` relays
them. docs/commands.md walks through it.
"""

from __future__ import annotations

import sys

import msgspec

from tailor import BFF, Config, Json, Request, Response, json_response
from tailor.commands import decode_body, if_match, send_command, versioned
from tailor.serve.run import config_from_env, main
from tailor.upstream.transport import Transport

PROFILE = {
    "name": "commands-example",
    "listen": {"port": 8093},
    "admin": {"enabled": False},
    "auth": {"anonymous": True},  # a real BFF authenticates: keys are then per user
    "upstreams": {"social": "http://127.0.0.1:9005", "playlists": "http://127.0.0.1:9004"},
    # The idempotency stage: a retried POST answers its first result for an hour.
    "commands": {"idempotency": {"ttl_s": 3600}},
}


class Liked(msgspec.Struct):
    track_id: str
    liked: bool
    likes: int


class PlaylistEdit(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    title: str | None = None
    track_ids: list[str] | None = None


class Playlist(msgspec.Struct):
    id: str
    title: str
    track_ids: list[str]


def create(config: Config | None = None, *, transport: Transport | None = None) -> BFF:
    """The BFF (``transport``: the services' seam, for tests)."""
    bff = BFF(config or config_from_env(PROFILE), transport=transport)

    @bff.post("/v1/tracks/{id}/like", uses=("social",), problems=(404,))
    async def like(request: Request) -> Json[Liked]:
        """Like a track (a retry with the same Idempotency-Key is answered, not re-run)"""
        track = request.path_params["id"]
        answer = await send_command(request, "social", f"/likes/{track}", Liked, method="PUT")
        return json_response(answer.value)

    @bff.route(
        "PATCH", "/v1/playlists/{id}", uses=("playlists",), body=PlaylistEdit,
        problems=(403, 404, 412, 428),
    )  # fmt: skip
    async def edit(request: Request) -> Response:
        """Edit a playlist: If-Match names the version (428 without, 412 when stale)"""
        version = if_match(request)  # 428 before any call
        changes = decode_body(request, PlaylistEdit)
        answer = await send_command(
            request, "playlists", f"/playlists/{request.path_params['id']}", Playlist,
            method="PATCH", body=changes, headers=(("if-match", version),),
        )  # fmt: skip
        return versioned(json_response(answer.value), answer.etag)

    return bff


if __name__ == "__main__":
    sys.exit(main("command_bff:create", PROFILE))
