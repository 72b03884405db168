"""Commands sent to a BFF as a signed-in user, for the command tests."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from .caller import Caller


def send(
    caller: Caller,
    method: str,
    path: str,
    body: Any = None,
    *,
    key: str | None = None,
    if_match: str | None = None,
) -> httpx.Response:
    headers = {"authorization": f"Bearer {caller.token}"}
    if key is not None:
        headers["idempotency-key"] = f'"{key}"'
    if if_match is not None:
        headers["if-match"] = if_match
    return caller.http.request(method, f"{caller.base}{path}", json=body, headers=headers)


def fresh_key() -> str:
    return str(uuid.uuid4())
