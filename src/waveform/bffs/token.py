"""The password grant both BFFs offer: the client's password goes to the accounts service and a
JWT for this BFF's audience comes back. The BFF keeps nothing."""

from __future__ import annotations

import msgspec

from tailor import BadRequest, HTTPProblem, Request, Response, Unauthorized, json_response
from tailor.errors import UpstreamStatusError
from tailor.routing import Handler
from waveform.bffs.consumed import LoginResult


class TokenRequest(msgspec.Struct, forbid_unknown_fields=True):
    grant_type: str
    username: str
    password: str


class TokenResponse(msgspec.Struct):
    access_token: str
    token_type: str
    expires_in: int


class _Login(msgspec.Struct):
    username: str
    password: str
    audience: str


_decode = msgspec.json.Decoder(TokenRequest).decode
_encode = msgspec.json.Encoder().encode


class UnsupportedMediaType(HTTPProblem):
    status = 415
    title = "Unsupported Media Type"


def password_grant(audience: str) -> Handler:
    async def token(request: Request) -> Response:
        if not request.headers.get("content-type", "").startswith("application/json"):
            raise UnsupportedMediaType("send the token request as application/json")
        try:
            body = _decode(request.body)
        except msgspec.ValidationError as exc:
            raise BadRequest(f"invalid token request: {exc}", parameter=_field(exc)) from exc
        except msgspec.DecodeError as exc:
            raise BadRequest("the token request is not valid JSON") from exc
        if body.grant_type != "password":
            raise BadRequest("only grant_type 'password' is supported", parameter="grant_type")
        if not 0 < len(body.username) <= 64 or not 0 < len(body.password) <= 256:
            raise BadRequest("username or password has an invalid length", parameter="username")
        assert request.upstreams is not None
        response = await request.upstreams.request(
            "accounts",
            "/login",
            method="POST",
            body=_encode(_Login(body.username, body.password, audience)),
            timeout_s=2.0,
            request_id=request.request_id,
        )
        if response.status in (400, 401, 403):
            # Same answer whether the user exists or not.
            raise Unauthorized(
                "invalid username or password",
                headers=(("www-authenticate", 'Bearer error="invalid_grant"'),),
            )
        if response.status != 200:
            raise UpstreamStatusError("accounts", response.status)
        result = request.upstreams.decode("accounts", response, LoginResult)
        return json_response(
            TokenResponse(result.access_token, result.token_type, result.expires_in)
        )

    return token


def _field(exc: msgspec.ValidationError) -> str | None:
    text = str(exc)
    if "`$." in text:
        return text.split("`$.", 1)[1].split("`", 1)[0]
    if "field `" in text:
        return text.split("field `", 1)[1].split("`", 1)[0]
    return None
