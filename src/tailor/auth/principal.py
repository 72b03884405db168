"""The verified caller, as the rest of the pipeline sees it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling. ``subject`` is the user id (an app's client id for an app token, the
    partner id for a partner); ``scopes`` what the credential allows.

    ``kind`` says which: ``"user"``, ``"app"`` (OAuth2 client credentials, no user) or
    ``"partner"`` (API key or client certificate). ``credential`` names the authenticator that
    accepted it (``"jwt"``, ``"session"``, ``"api_key"``, ``"mtls"``).

    >>> Principal("u1", client_id="waveform-ios").kind
    'user'
    """

    subject: str
    scopes: frozenset[str] = frozenset()
    client_id: str = ""
    expires_at: float = 0.0
    kind: str = "user"
    credential: str = "jwt"
    partner_id: str = ""
    session_id: str = ""
