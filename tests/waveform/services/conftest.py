"""One real platform (services only, ephemeral loopback ports) shared by the session.

Every service refuses a request without an internal token, so the shared ``http`` client
carries one: :class:`ServiceTokens` fetches a real token from the platform's token service
for whichever service a request goes to (unless the test set ``authorization`` itself).
"""

from __future__ import annotations

import time
from collections.abc import Generator, Iterator

import httpx
import pytest
from platforms import started

from waveform.services import SERVICES
from waveform.supervisor import Platform

SCALE = 2000
#: accounts' records and admin calls need the operator scope; the rest reads.
SCOPES = {"accounts": "auth admin"}


class ServiceTokens(httpx.Auth):
    """Attach an internal token for the addressed service (about ``subject``)."""

    def __init__(self, platform: Platform, subject: str = "tests") -> None:
        self.platform = platform
        self.subject = subject
        self.by_port = {port: name for name, port in platform.ports.items() if name in SERVICES}
        self._cache: dict[str, tuple[str, float]] = {}

    def token(self, service: str) -> str:
        cached = self._cache.get(service)
        if cached is None or cached[1] < time.monotonic():
            token = self.platform.internal_token(service, self.subject, SCOPES.get(service, ""))
            cached = self._cache[service] = (token, time.monotonic() + 30)
        return cached[0]

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        service = self.by_port.get(request.url.port or 0)
        if service is not None and "authorization" not in request.headers:
            request.headers["authorization"] = f"Bearer {self.token(service)}"
        yield request


def bearer(platform: Platform, service: str, subject: str, scope: str = "") -> dict[str, str]:
    return {"authorization": f"Bearer {platform.internal_token(service, subject, scope)}"}


@pytest.fixture(scope="session")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    with started(tmp_path_factory, "waveform-services", scale=SCALE, components="services") as p:
        yield p


@pytest.fixture(scope="session")
def http(platform: Platform) -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10, auth=ServiceTokens(platform)) as client:
        yield client
