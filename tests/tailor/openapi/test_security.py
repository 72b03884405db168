"""The security schemes of a document, from the BFF's auth config."""

from __future__ import annotations

from typing import Any

from tailor import BFF, Json, Request, build_config, json_response
from tailor.openapi import openapi_document

UPSTREAMS = {"accounts": "http://127.0.0.1:9"}


def _document(auth: dict[str, Any], **extra: Any) -> dict[str, Any]:
    bff = BFF(build_config({"name": "demo", "auth": auth, "upstreams": UPSTREAMS, **extra}))

    @bff.get("/v1/me")
    async def me(request: Request) -> Json[dict[str, str]]:
        return json_response({})

    @bff.post("/v1/token", auth=False)
    async def token(request: Request) -> Json[dict[str, str]]:
        return json_response({})

    return openapi_document(bff)


def test_a_jwt_is_an_http_bearer_scheme_required_by_every_authenticated_route() -> None:
    document = _document({"jwt": {"issuer": "me", "audience": "app", "jwks_upstream": "accounts"}})
    scheme = document["components"]["securitySchemes"]["bearer"]
    assert (scheme["type"], scheme["scheme"], scheme["bearerFormat"]) == ("http", "bearer", "JWT")
    assert document["security"] == [{"bearer": []}]


def test_a_route_without_authentication_needs_no_credential() -> None:
    document = _document({"api_key": {}})
    assert document["paths"]["/v1/token"]["post"]["security"] == []
    assert "security" not in document["paths"]["/v1/me"]["get"]


def test_each_configured_authenticator_is_an_alternative() -> None:
    document = _document(
        {"api_key": {"header": "x-partner-key"}, "session": {"cookie_name": "sid"}}
    )
    schemes = document["components"]["securitySchemes"]
    assert schemes["apiKey"] == {"type": "apiKey", "in": "header", "name": "x-partner-key"}
    assert (schemes["session"]["in"], schemes["session"]["name"]) == ("cookie", "sid")
    assert document["security"] == [{"session": []}, {"apiKey": []}]


def test_a_bff_without_authentication_declares_no_scheme() -> None:
    document = _document({"anonymous": True})
    assert "securitySchemes" not in document["components"]
    assert "security" not in document
