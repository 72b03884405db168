"""The token endpoints the BFFs offer. The client's password or refresh token goes to the
accounts service and a JWT for this BFF's audience comes back; the BFF keeps nothing.

    grant_type=password       username, password (client_id: which app; default by audience)
    grant_type=refresh_token  refresh_token: a new access token and a rotated refresh token
    grant_type=client_credentials (public BFF only) client_id, client_secret, scope

Every refusal from accounts (unknown user, wrong password, unknown or reused refresh token,
bad client) is the same 401, so a caller cannot tell which it was.
"""

from __future__ import annotations

import base64
from typing import Annotated, ClassVar
from urllib.parse import parse_qsl, unquote

import msgspec

from tailor import BadRequest, Json, Request, Unauthorized, json_response
from tailor.chain import Handler
from tailor.errors import UnsupportedMediaType, UpstreamStatusError
from tailor.govern.labels import DataClass, Sensitive
from tailor.validation import error_key


class TokenRequest(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    grant_type: str
    username: str = ""
    password: str = ""
    refresh_token: str = ""
    client_id: str = ""
    client_secret: str = ""
    scope: str = ""


class TokenResponse(msgspec.Struct, omit_defaults=True):
    """What every token endpoint answers (RFC 6749 5.1)."""

    __data_class__: ClassVar[DataClass] = DataClass.INTERNAL
    access_token: Annotated[str, Sensitive]
    token_type: str
    expires_in: int
    refresh_token: Annotated[str | None, Sensitive] = None
    scope: str | None = None


class _Granted(msgspec.Struct):
    __data_class__: ClassVar[DataClass] = DataClass.INTERNAL
    access_token: Annotated[str, Sensitive]
    expires_in: int
    token_type: str = "Bearer"
    refresh_token: Annotated[str | None, Sensitive] = None
    scope: str | None = None


class _Login(msgspec.Struct, omit_defaults=True):
    username: str
    password: str
    audience: str
    client_id: str | None = None


class _Refresh(msgspec.Struct):
    grant_type: str
    refresh_token: str
    audience: str


class _ClientCredentials(msgspec.Struct, omit_defaults=True):
    grant_type: str
    client_id: str
    client_secret: str
    audience: str
    scope: str | None = None


#: The ``governance.expose`` entries of a BFF with a token endpoint (docs/governance.md).
TOKEN_EXPOSES = [
    {"field": f"TokenResponse.{name}", "reason": "the caller's own credential (RFC 6749 5.1)"}
    for name in ("access_token", "refresh_token")
]

_decode = msgspec.json.Decoder(TokenRequest).decode
_encode = msgspec.json.Encoder().encode
_NO_STORE = (("cache-control", "no-store"), ("pragma", "no-cache"))


def _refused() -> Unauthorized:
    return Unauthorized(
        "the credentials or grant are not valid",
        headers=(("www-authenticate", 'Bearer error="invalid_grant"'),),
    )


def parse_token_request(request: Request) -> TokenRequest:
    """JSON or (as RFC 6749 has it) form-encoded; client credentials also from Basic auth."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        if ctype == "application/json":
            body = _decode(request.body)
        elif ctype == "application/x-www-form-urlencoded":
            pairs = parse_qsl(request.body.decode(), keep_blank_values=True, strict_parsing=False)
            fields = dict(pairs)
            if len(fields) != len(pairs):
                raise BadRequest("a token request parameter was sent twice")
            body = msgspec.convert(fields, TokenRequest)
        else:
            raise UnsupportedMediaType(
                "send the token request as application/json or x-www-form-urlencoded"
            )
    except msgspec.ValidationError as exc:
        raise BadRequest(f"invalid token request: {exc}", parameter=_field(exc)) from exc
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise BadRequest("the token request is not valid JSON or form data") from exc
    basic = _basic(request.headers.get("authorization", ""))
    if basic is not None:
        if body.client_id or body.client_secret:
            raise BadRequest("use one client authentication method", parameter="client_id")
        body.client_id, body.client_secret = basic
    for name in ("username", "client_id", "scope"):
        if len(getattr(body, name)) > 128:
            raise BadRequest(f"{name} is too long", parameter=name)
    for name in ("password", "refresh_token", "client_secret"):
        if len(getattr(body, name)) > 512:
            raise BadRequest(f"{name} is too long", parameter=name)
    return body


def _basic(header: str) -> tuple[str, str] | None:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        raw = base64.b64decode(encoded.strip(), validate=True).decode()
    except (ValueError, UnicodeDecodeError) as exc:
        raise _refused() from exc
    client_id, sep, secret = raw.partition(":")
    if not sep:
        raise _refused()
    return unquote(client_id), unquote(secret)


def token_endpoint(
    audience: str, *, client_credentials: bool = False, default_client_id: str = ""
) -> Handler:
    """The handler of a BFF's token endpoint for ``audience``."""

    async def token(request: Request) -> Json[TokenResponse]:
        body = parse_token_request(request)
        if body.grant_type == "password":
            for name in ("username", "password"):
                if not getattr(body, name):
                    raise BadRequest(f"{name} is required", parameter=name)
            client_id = body.client_id or default_client_id or None
            upstream_body = _encode(_Login(body.username, body.password, audience, client_id))
            path = "/login"
        elif body.grant_type == "refresh_token":
            if not body.refresh_token:
                raise BadRequest("refresh_token is required", parameter="refresh_token")
            upstream_body = _encode(_Refresh("refresh_token", body.refresh_token, audience))
            path = "/oauth/token"
        elif body.grant_type == "client_credentials" and client_credentials:
            if not body.client_id or not body.client_secret:
                raise _refused()
            upstream_body = _encode(
                _ClientCredentials(
                    "client_credentials",
                    body.client_id,
                    body.client_secret,
                    audience,
                    body.scope or None,
                )
            )
            path = "/oauth/token"
        else:
            raise BadRequest("this grant_type is not supported here", parameter="grant_type")
        assert request.upstreams is not None
        response = await request.upstreams.request(
            "accounts",
            path,
            method="POST",
            body=upstream_body,
            timeout_s=2.0,
            request_id=request.request_id,
            allowance=request.allowance,
            trace=request.trace,
        )
        if response.status in (400, 401, 403, 404):
            # Same answer whether the user, app or token exists or not.
            raise _refused()
        if response.status != 200:
            raise UpstreamStatusError("accounts", response.status)
        granted = request.upstreams.decode("accounts", response, _Granted)
        answer = json_response(
            TokenResponse(
                granted.access_token,
                granted.token_type,
                granted.expires_in,
                granted.refresh_token,
                granted.scope,
            )
        )
        answer.headers.extend(_NO_STORE)
        return answer

    return token


#: What a token endpoint's route declares for its OpenAPI operation: the body it reads, and
#: the refusals its handler answers itself.
TOKEN_ROUTE: dict[str, object] = {"body": TokenRequest, "problems": (401, 415)}


def password_grant(audience: str) -> Handler:
    """Kept for BFFs written before refresh tokens: the same endpoint."""
    return token_endpoint(audience)


def _field(exc: msgspec.ValidationError) -> str | None:
    return error_key(exc, None, TokenRequest)[0] or None
