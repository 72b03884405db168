"""A request id on every request and response, propagated to every inward call.

An inbound ``X-Request-Id`` is kept only when it is a short token, so a client cannot inject
log lines or oversized values through it. New ids are 96 random bits from the OS (hex).
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING

from tailor.chain import Chain, Outcome, then
from tailor.http import Request, Response

if TYPE_CHECKING:
    from tailor.pipeline import BuildContext

_SAFE = re.compile(r"[A-Za-z0-9_.-]{8,64}")
_ID_HEX = 24  # 12 random bytes


class RequestIds:
    """Fresh ids from ``os.urandom``, read a batch at a time: one system call per ``batch``
    ids instead of one per request (the system call, not the hex, is what an id costs).

    >>> ids = RequestIds(batch=4)
    >>> len(ids.next()), ids.next() != ids.next()
    (24, True)
    """

    def __init__(self, batch: int = 512, width: int = _ID_HEX) -> None:
        self._batch = batch
        self._width = width  # hex digits per id (tailor.trace reads 32 and 16 digit ids)
        self._hex = ""
        self._at = 0

    def next(self) -> str:
        at, width = self._at, self._width
        if at >= len(self._hex):
            self._hex = os.urandom(self._batch * width // 2).hex()
            at = 0
        self._at = at + width
        return self._hex[at : at + width]

    def drop(self) -> None:
        """Forget the ids read so far (the rest of the batch is never handed out)."""
        self._hex, self._at = "", 0


_IDS = RequestIds()
# A forked child (a server worker) must not hand out the ids its parent already read.
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_IDS.drop)


class RequestIdStage:
    name = "request_id"

    @classmethod
    def build(cls, ctx: BuildContext) -> RequestIdStage:
        return cls()

    def wrap(self, next_handler: Chain) -> Chain:
        new_id = _IDS.next

        def request_id(request: Request) -> Outcome:
            inbound = request.headers.get("x-request-id")
            rid = inbound if inbound and _SAFE.fullmatch(inbound) else new_id()
            request.request_id = rid
            return then(next_handler(request), _stamp, rid)

        return request_id


def _stamp(response: Response, rid: str) -> Response:
    response.headers.append(("x-request-id", rid))
    return response
