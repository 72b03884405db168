"""Inward credentials: what an inward call carries to prove who is asking.

The client's own credential never travels inward. A provider turns the verified caller into
headers for one upstream (e.g. a short-lived, audience-scoped internal token). With no
provider configured, inward calls carry no credential.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from tailor.auth.principal import Principal


class InwardCredentials(Protocol):
    def cached_headers(
        self, upstream: str, principal: Principal | None
    ) -> Sequence[tuple[str, str]] | None:
        """The headers when they are at hand without waiting (a cached token), else None."""
        ...

    async def headers(
        self, upstream: str, principal: Principal | None
    ) -> Sequence[tuple[str, str]]: ...

    async def aclose(self) -> None: ...
