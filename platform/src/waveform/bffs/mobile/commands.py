"""The mobile BFF's commands under ``/v1`` (docs/commands.md). A phone retries on a flaky
network: it sends ``Idempotency-Key`` with each POST. The calls are
:mod:`waveform.bffs.commands`'; the playlist answer is the mobile screen."""

from __future__ import annotations

from collections.abc import Callable

from tailor import BFF, PlanResult
from waveform.bffs.commands import add_command_routes
from waveform.bffs.mobile.shapes import PlaylistScreen


def add_commands(bff: BFF, shape_playlist: Callable[[PlanResult], PlaylistScreen]) -> None:
    add_command_routes(bff, "/v1", shape_playlist, PlaylistScreen)
