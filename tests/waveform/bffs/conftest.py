"""The whole reference platform (services and both BFFs) on ephemeral loopback ports, shared
by the session, plus tokens for the demo users."""

from __future__ import annotations

import time
from collections.abc import Generator, Iterator
from pathlib import Path

import httpx
import pytest

from otlp_receiver import OtlpReceiver
from waveform.services import SERVICES
from waveform.supervisor import Platform

from .caller import Caller, signed_in

SCALE = 2000


@pytest.fixture(scope="session")
def otlp() -> Iterator[OtlpReceiver]:
    """The collector every component of the platform exports its spans to."""
    with OtlpReceiver() as receiver:
        yield receiver


@pytest.fixture(scope="session")
def platform(tmp_path_factory: pytest.TempPathFactory, otlp: OtlpReceiver) -> Iterator[Platform]:
    data_dir: Path = tmp_path_factory.mktemp("waveform-platform")
    # Tracing on, but a trace is recorded only when its caller samples it (a test that wants
    # one sends a sampled traceparent): the other tests pay for no spans.
    with Platform(
        data_dir, ephemeral=True, scale=SCALE, tls_listeners=True,
        tracing_endpoint=otlp.endpoint, tracing_sample_ratio=0.0,
    ) as p:  # fmt: skip
        assert not p.failures, [f.describe() for f in p.failures.values()]
        yield p


class ServiceTokens(httpx.Auth):
    """Direct calls to a service carry a real internal token about alice (u1) for that
    service, as a BFF's would; calls to BFFs are left alone."""

    SCOPES = {"accounts": "auth admin"}  # account records are operator-only

    def __init__(self, platform: Platform, subject: str = "u1") -> None:
        self.platform = platform
        self.subject = subject
        self.by_port = {port: name for name, port in platform.ports.items() if name in SERVICES}
        self._cache: dict[str, tuple[str, float]] = {}

    def token(self, service: str) -> str:
        cached = self._cache.get(service)
        if cached is None or cached[1] < time.monotonic():
            scope = self.SCOPES.get(service, "")
            token = self.platform.internal_token(service, self.subject, scope)
            cached = self._cache[service] = (token, time.monotonic() + 30)
        return cached[0]

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        service = self.by_port.get(request.url.port or 0)
        if service is not None and "authorization" not in request.headers:
            request.headers["authorization"] = f"Bearer {self.token(service)}"
        yield request


@pytest.fixture(scope="session")
def http(platform: Platform) -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10, auth=ServiceTokens(platform)) as client:
        yield client


@pytest.fixture(scope="session")
def mobile_alice(platform: Platform, http: httpx.Client) -> Caller:
    return signed_in(platform, http, "mobile", "alice")


@pytest.fixture(scope="session")
def mobile_bob(platform: Platform, http: httpx.Client) -> Caller:
    return signed_in(platform, http, "mobile", "bob")


@pytest.fixture(scope="session")
def web_alice(platform: Platform, http: httpx.Client) -> Caller:
    return signed_in(platform, http, "web", "alice")


@pytest.fixture(scope="session")
def web_bob(platform: Platform, http: httpx.Client) -> Caller:
    return signed_in(platform, http, "web", "bob")
