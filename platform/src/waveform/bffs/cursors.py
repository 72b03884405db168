"""Cursors pass through a BFF opaque: a page's ``next_cursor`` is the service's, handed back to
it as it came. The BFF does not know the format, so it cannot check a cursor; the service does,
and answers 400 for one it did not issue. That 400 on the paged call is the client's error, a
400 naming ``cursor``, not a lost required part (a 502 in the metrics).
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeVar

from tailor import BadRequest, Response
from tailor.errors import UpstreamStatusError

R = TypeVar("R", bound=Response)


async def with_cursor_from(upstream: str, answer: Awaitable[R]) -> R:
    """``answer``, or a 400 naming ``cursor`` when ``upstream`` (the paged call, whose only
    client input is the cursor) refused the request as bad."""
    try:
        return await answer
    except UpstreamStatusError as exc:
        if exc.upstream == upstream and exc.status == 400:
            raise BadRequest("cursor is not one this API issued", parameter="cursor") from None
        raise
