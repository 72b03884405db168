"""One JSON line per request, on the ``tailor.stages.access_log`` logger.

Each line says what an operator needs to find a request again and no more: its request id
and trace id, method, route *template* (never the path: it holds ids), status, duration,
the caller's kind (``user``, ``app``, ``partner`` or ``anonymous``: never who) and the
parts that degraded. A response a stage answered itself (a denial, a refusal) also names
that stage and gives the problem's ``detail``, which tailor writes for the client and which
never quotes the client's input. No header, credential, query or body is ever read here.

    {"request_id":"...","trace_id":"...","method":"GET","route":"/v1/home","status":401,
     "duration_ms":0.21,"caller":"anonymous","stage":"authenticate",
     "reason":"a credential is required"}

The chain notes the innermost stage each request reaches (``request.stage``) only while
this stage is on: ``logs.access = false`` takes both out. Unless the application gives the
logger a handler of its own, each line goes straight to stderr.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from typing import TYPE_CHECKING

import msgspec

from tailor.chain import Chain, Outcome, then
from tailor.http import Request, Response
from tailor.problem import PROBLEM_CONTENT_TYPE
from tailor.stages.observe import METHODS, UNMATCHED

if TYPE_CHECKING:
    from tailor.pipeline import BuildContext

LOGGER = __name__  # "tailor.stages.access_log"
_MAX_REASON = 200


class AccessLine(msgspec.Struct, omit_defaults=True):
    """The fields of one access line (empty ones are left out)."""

    request_id: str
    method: str
    route: str
    status: int
    duration_ms: float
    caller: str
    trace_id: str = ""
    degraded: list[str] = []
    stage: str = ""
    reason: str = ""


class _Detail(msgspec.Struct):
    detail: str = ""


_encode = msgspec.json.Encoder().encode
_detail = msgspec.json.Decoder(_Detail).decode


def access_logger() -> logging.Logger:
    """This module's logger, at INFO unless its level was set."""
    logger = logging.getLogger(LOGGER)
    if logger.level == logging.NOTSET:  # not below the root's WARNING: these are INFO lines
        logger.setLevel(logging.INFO)
    return logger


class AccessLogStage:
    name = "access_log"

    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger

    @classmethod
    def build(cls, ctx: BuildContext) -> AccessLogStage | None:
        return cls(access_logger()) if ctx.config.logs.access else None

    def wrap(self, next_handler: Chain) -> Chain:
        logger = self._logger

        def log(response: Response, request: Request) -> Response:
            if logger.isEnabledFor(logging.INFO):
                if logger.handlers:  # the application's own handlers
                    logger.info(line(request, response).decode())
                else:
                    _write(line(request, response))
            return response

        def access_log(request: Request) -> Outcome:
            return then(next_handler(request), log, request)

        return access_log


def _write(entry: bytes) -> None:
    """The line to stderr as it is. Without a handler of the application's, a line is written
    directly: a LogRecord and its handler cost about 7 us a line, some 50 times the write."""
    with contextlib.suppress(OSError, ValueError):  # a closed or broken stderr fails no request
        sys.stderr.write(entry.decode() + "\n")


def line(request: Request, response: Response) -> bytes:
    """The access line of ``request`` answered with ``response``, as JSON."""
    principal = request.principal
    trace = request.trace
    status = response.status
    entry = AccessLine(
        request.request_id,
        request.method if request.method in METHODS else "OTHER",
        request.route.template if request.route is not None else UNMATCHED,
        status,
        round((time.perf_counter() - request.received_at) * 1000, 3),
        principal.kind if principal is not None else "anonymous",
        trace.trace_id if trace is not None else "",
        [d.part for d in request.degraded],
    )
    if status >= 400 and response.header("content-type") == PROBLEM_CONTENT_TYPE:
        entry.stage = request.stage
        with contextlib.suppress(msgspec.DecodeError):  # not a problem body after all
            entry.reason = _detail(response.body).detail[:_MAX_REASON]
    return _encode(entry)
