"""The web BFF's commands under ``/api`` (docs/commands.md): a browser sends them with its
session cookie and the ``X-CSRF-Token`` header (the authenticate stage checks both), a script
with a bearer token. The calls are :mod:`waveform.bffs.commands`'; the shapes are the web's."""

from __future__ import annotations

from collections.abc import Callable

from tailor import BFF, PlanResult
from waveform.bffs.commands import add_command_routes
from waveform.bffs.web.shapes import PlaylistOut


def add_commands(bff: BFF, shape_playlist: Callable[[PlanResult], PlaylistOut]) -> None:
    add_command_routes(bff, "/api", shape_playlist, PlaylistOut)
