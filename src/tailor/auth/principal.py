"""The verified caller, as the rest of the pipeline sees it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling. ``subject`` is the user id; ``scopes`` what the credential allows."""

    subject: str
    scopes: frozenset[str] = frozenset()
    client_id: str = ""
    expires_at: float = 0.0
