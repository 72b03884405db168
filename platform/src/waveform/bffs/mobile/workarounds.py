"""Workarounds for mobile builds in the field (``clients.workarounds`` in the profile).

``restore_duration_s``: until 3.4 the home's track cards carried ``duration_s``; they now
carry ``duration_ms`` only. Android builds 3.0 to 3.3 still read ``duration_s`` and show
every track as 0:00 without it, so for them (and only them) it is put back on the v1 home.
"""

from __future__ import annotations

from typing import Any

import msgspec

from tailor import Request, Response
from tailor.clients import Transform

_decode = msgspec.json.Decoder().decode
_encode = msgspec.json.Encoder().encode


def _with_duration_s(card: dict[str, Any]) -> None:
    card["duration_s"] = card["duration_ms"] // 1000


def restore_duration_s(response: Response, request: Request) -> Response:
    """The v1 home with ``duration_s`` beside every track card's ``duration_ms``."""
    home = _decode(response.body)
    for item in home["stream"]["items"]:
        _with_duration_s(item["track"])
    for card in home["recommendations"]:
        _with_duration_s(card)
    response.body = _encode(home)
    return response


TRANSFORMS = {"restore_duration_s": Transform(response=restore_duration_s)}
