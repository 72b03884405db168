"""Error mapping: whatever goes wrong below becomes a problem+json, never a stack trace.

Upstream failures map to 502 (or 504 for timeouts; an upstream 404 on a required part means the
thing asked for does not exist: 404). Anything unexpected is logged with its traceback on the
server and answered as a bare 500.
"""

from __future__ import annotations

import logging
import math
from functools import partial
from typing import TYPE_CHECKING

from tailor.auth.authenticator import CredentialsUnavailable
from tailor.chain import Chain, rescue
from tailor.errors import (
    ClientDisconnected,
    HTTPProblem,
    UpstreamError,
    UpstreamStatusError,
    UpstreamTimeout,
)
from tailor.http import Request, Response
from tailor.problem import problem_response
from tailor.resilience.errors import CircuitOpen
from tailor.stages.authenticate import credentials_unavailable

if TYPE_CHECKING:
    from tailor.pipeline import BuildContext

log = logging.getLogger("tailor.errors")


class ErrorStage:
    name = "errors"

    @classmethod
    def build(cls, ctx: BuildContext) -> ErrorStage:
        return cls()

    def wrap(self, next_handler: Chain) -> Chain:
        # The stages below raise either while the chain is built or while it is awaited:
        # rescue maps both the same way. The partial is the link itself (no frame of ours).
        return partial(rescue, mapped, next_handler)


def mapped(exc: Exception, request: Request) -> Response:
    """The answer to an exception raised below this stage."""
    if isinstance(exc, HTTPProblem):
        parameter = getattr(exc, "parameter", None) or ""
        return problem_response(
            exc.status,
            exc.detail,
            headers=exc.headers,
            parameter=parameter,
            request_id=request.request_id,
        )
    if isinstance(exc, UpstreamStatusError):
        if exc.status == 404:
            return problem_response(404, "not found", request_id=request.request_id)
        request.error_cause = f"upstream_{exc.reason}"
        return _bad_gateway(request, exc)
    if isinstance(exc, CircuitOpen):
        # Failing fast on purpose: tell the client when it is worth trying again.
        request.error_cause = "upstream_circuit_open"
        retry = str(max(1, math.ceil(exc.retry_after_s)))
        return problem_response(
            503,
            f"a required part ({exc.upstream}) is unavailable, try again shortly",
            headers=(("retry-after", retry),),
            request_id=request.request_id,
        )
    if isinstance(exc, UpstreamTimeout):
        request.error_cause = "upstream_timeout"
        return problem_response(
            504,
            f"a required part ({exc.upstream}) did not answer in time",
            request_id=request.request_id,
        )
    if isinstance(exc, UpstreamError):
        request.error_cause = f"upstream_{exc.reason}"
        return _bad_gateway(request, exc)
    if isinstance(exc, CredentialsUnavailable):
        # A login or logout while the session store is down: as authenticate answers it.
        request.error_cause = "credentials_unavailable"
        return credentials_unavailable(request)
    if isinstance(exc, ClientDisconnected):
        # Nobody is left to read the answer; not the server's error, so not logged as one.
        # 400, as nginx's 499 is not a status a client could ever see.
        request.error_cause = "client_disconnected"
        return problem_response(
            400, "the client closed the connection mid-request", request_id=request.request_id
        )
    log.error("unhandled error on %s %s", request.method, request.path, exc_info=exc)
    request.error_cause = "internal"
    return problem_response(500, "internal error", request_id=request.request_id)


def _bad_gateway(request: Request, exc: UpstreamError) -> Response:
    return problem_response(
        502,
        f"a required part ({exc.upstream}) failed: {exc.reason}",
        request_id=request.request_id,
    )
