"""Browser sessions for the web BFF: ``POST /api/session`` logs in, ``GET`` tells the page
who it is and its CSRF token, ``DELETE`` logs out.

The password goes to accounts once; what the browser keeps is only the session cookie
(``HttpOnly``, so page scripts cannot read it) and the CSRF token it must echo in
``X-CSRF-Token`` on unsafe requests. Login is itself protected against login CSRF by the
same-origin check, and always issues a brand-new session id (any presented one is
discarded first: no fixation). Logout deletes the session from the store, which with Redis
ends it on every web BFF instance at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Annotated, ClassVar

import msgspec

from tailor import (
    BFF,
    BadRequest,
    HTTPProblem,
    Json,
    Request,
    Response,
    Unauthorized,
    json_response,
)
from tailor.auth.session import SessionManager
from tailor.commands import decode_body
from tailor.govern.labels import DataClass, Public, Sensitive
from waveform.bffs.consumed import LoginResult

AUDIENCE = "waveform-web"


class Forbidden(HTTPProblem):
    status = 403
    title = "Forbidden"


class LoginRequest(msgspec.Struct, forbid_unknown_fields=True):
    username: str
    password: str


class SessionOut(msgspec.Struct):
    __data_class__: ClassVar[DataClass] = DataClass.INTERNAL
    user_id: Annotated[str, Public]
    csrf_token: Annotated[str, Sensitive]
    expires_in: int


class _Login(msgspec.Struct):
    username: str
    password: str
    audience: str
    client_id: str


_encode = msgspec.json.Encoder().encode


def _manager(request: Request) -> SessionManager:
    manager = request.sessions
    assert manager is not None, "auth.session is not configured"
    return manager


def _refused() -> Unauthorized:
    return Unauthorized("invalid username or password")


def add_session_routes(bff: BFF, on_logout: Callable[[str, str], object] | None = None) -> None:
    """The session routes; ``on_logout(user_id, session_id)`` is told of each logout (the
    live routes close that session's connections in this worker at once)."""

    @bff.post(
        "/api/session", auth=False, uses=("accounts",), body=LoginRequest, problems=(401, 403, 415)
    )
    async def login(request: Request) -> Json[SessionOut]:
        manager = _manager(request)
        if not manager.same_origin(request):
            raise Forbidden("cross-site request refused")
        body = decode_body(request, LoginRequest)
        if not 0 < len(body.username) <= 64 or not 0 < len(body.password) <= 256:
            raise _refused()
        # Whatever happens next, a session id chosen before login is never kept.
        await manager.discard_presented(request)
        assert request.upstreams is not None
        response = await request.upstreams.request(
            "accounts",
            "/login",
            method="POST",
            body=_encode(
                _Login(body.username, body.password, AUDIENCE, manager.settings.client_id)
            ),
            timeout_s=2.0,
            request_id=request.request_id,
            allowance=request.allowance,
            trace=request.trace,
        )
        if response.status in (400, 401, 403):
            raise _refused()  # the same answer whether the user exists or not
        result = request.upstreams.decode("accounts", response, LoginResult)
        session_id, session = await manager.create(result.user_id)
        answer = json_response(
            SessionOut(result.user_id, session.csrf_token, int(manager.settings.ttl_s))
        )
        answer.headers.append(("set-cookie", manager.cookie(session_id)))
        answer.headers.append(("cache-control", "no-store"))
        return answer

    @bff.get("/api/session", problems=(400,))
    async def current(request: Request) -> Json[SessionOut]:
        principal = request.principal
        assert principal is not None
        if not principal.session_id:
            raise BadRequest("this request carries no session")
        session = await _manager(request).load(principal.session_id)
        if session is None:
            raise _refused()
        answer = json_response(
            SessionOut(
                session.user_id,
                session.csrf_token,
                max(0, int(session.expires_at - time.time())),
            )
        )
        answer.headers.append(("cache-control", "no-store"))
        return answer

    @bff.route("DELETE", "/api/session", response=None)
    async def logout(request: Request) -> Response:
        principal = request.principal
        assert principal is not None
        manager = _manager(request)
        if principal.session_id:
            await manager.end(principal.session_id)
            if on_logout is not None:
                on_logout(principal.subject, principal.session_id)
        return Response(204, b"", [("set-cookie", manager.expired_cookie())])
