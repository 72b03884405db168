"""The public API's commands under ``/v1`` (docs/commands.md): only for a user token of an
app granted the write scope each needs (``likes:write``, ``reposts:write``,
``follows:write``, ``playlists:write``, ``tracks:write``); an app token of its own acts for
no user. Checking the credential's scope is the edge's job; whether the user may like that
track or edit that playlist is the services'."""

from __future__ import annotations

from collections.abc import Callable

from tailor import BFF, HTTPProblem, Plan, PlanResult, Request
from waveform.bffs.commands import add_command_routes
from waveform.bffs.public.shapes import PlaylistOut


class InsufficientScope(HTTPProblem):
    status = 403
    title = "Forbidden"


def require_write_scope(request: Request, scope: str) -> None:
    """403 (RFC 6750 ``insufficient_scope``) unless a user's token carries ``scope``."""
    principal = request.principal
    challenge = (("www-authenticate", f'Bearer error="insufficient_scope", scope="{scope}"'),)
    if principal is None or principal.kind != "user":
        raise InsufficientScope("commands act for a user: use a user token", headers=challenge)
    if scope not in principal.scopes:
        raise InsufficientScope(f"this command needs the {scope} scope", headers=challenge)


def add_commands(
    bff: BFF, shape_playlist: Callable[[PlanResult], PlaylistOut], playlist_plan: Plan
) -> None:
    add_command_routes(
        bff, "/v1", shape_playlist, PlaylistOut,
        playlist_plan=playlist_plan, check=require_write_scope,
    )  # fmt: skip
