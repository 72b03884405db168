"""The security schemes of a BFF's document, from its ``auth`` config: one per configured
authenticator, any one of which admits a caller (the order :mod:`tailor.auth.factory` tries
them in).

    auth.mtls      mutualTLS                      a client certificate from the partner CA
    auth.session   apiKey in the session cookie   unsafe methods also send the CSRF header
    auth.api_key   apiKey in its header
    auth.jwt       http bearer, JWT               issued for this BFF's audience
"""

from __future__ import annotations

from typing import Any

from tailor.config import Auth


def security_schemes(auth: Auth) -> dict[str, dict[str, Any]]:
    """The ``components.securitySchemes`` of a BFF configured with ``auth``.

    >>> from tailor.config import APIKeyAuth
    >>> security_schemes(Auth(api_key=APIKeyAuth()))
    {'apiKey': {'type': 'apiKey', 'in': 'header', 'name': 'x-api-key'}}
    """
    schemes: dict[str, dict[str, Any]] = {}
    if auth.mtls is not None:
        schemes["mutualTLS"] = {
            "type": "mutualTLS",
            "description": "a client certificate issued by the partner CA",
        }
    if auth.session is not None:
        schemes["session"] = {
            "type": "apiKey",
            "in": "cookie",
            "name": auth.session.cookie_name,
            "description": f"a browser session; unsafe methods also send the CSRF token in "
            f"{auth.session.csrf_header} and a same-origin Origin",
        }
    if auth.api_key is not None:
        schemes["apiKey"] = {"type": "apiKey", "in": "header", "name": auth.api_key.header}
    if auth.jwt is not None:
        schemes["bearer"] = {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": f"a JWT issued by {auth.jwt.issuer} for {auth.jwt.audience}",
        }
    return schemes


def security_requirement(schemes: dict[str, dict[str, Any]]) -> list[dict[str, list[str]]]:
    """Any one of ``schemes`` admits a caller: one requirement object per scheme."""
    return [{name: []} for name in schemes]
