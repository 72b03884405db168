"""The authenticator seam: one per credential type a BFF profile accepts.

The authenticate stage asks each configured authenticator in turn. An authenticator returns
``None`` when its kind of credential is simply not present (so the next one may try), a
:class:`Principal` when it is present and good, and raises :class:`InvalidCredential` when it
is present and bad (the request is refused; no other authenticator gets to rescue it).
"""

from __future__ import annotations

from typing import Protocol

from tailor.auth.principal import Principal
from tailor.errors import TailorError
from tailor.http import Request


class InvalidCredential(TailorError):
    """A credential was presented and refused. The message stays in the server log."""


class CredentialsUnavailable(TailorError):
    """Credentials cannot be checked right now (keys or a session store unreachable): 503."""


class Authenticator(Protocol):
    #: the ``WWW-Authenticate`` challenge offered when no credential was presented
    challenge: str

    async def authenticate(self, request: Request) -> Principal | None: ...
