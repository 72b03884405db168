"""A logged-in user of one BFF, for the integration tests."""

from __future__ import annotations

import httpx


class Caller:
    """A logged-in user of one BFF."""

    def __init__(self, http: httpx.Client, base: str, token: str) -> None:
        self.http = http
        self.base = base
        self.token = token

    def get(self, path: str) -> httpx.Response:
        return self.http.get(
            f"{self.base}{path}", headers={"authorization": f"Bearer {self.token}"}
        )
