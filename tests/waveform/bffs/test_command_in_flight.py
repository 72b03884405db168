"""A duplicate of a command still in flight, through a real mobile BFF process: the first
like is held at a gate in front of the catalog service, the duplicate (same Idempotency-Key)
is answered 409 while it is held, and the first answers once the gate opens."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from platforms import another_bff, started
from seeded import open_tracks

from waveform.services import SERVICES
from waveform.supervisor import Platform

from .caller import Caller, login
from .commands_helpers import fresh_key, send
from .gate import WAIT_S, Gate, gate

SCALE = 500
#: A track anyone may see in this world (past the seed's fixture tracks other tests use).
TRACK = next(t for t in open_tracks(SCALE) if int(t[1:]) > 10)


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    # Plain HTTP: the gate is an HTTP proxy (the gRPC wire's faults are tailor's own tests).
    with started(
        tmp_path_factory,
        "waveform-in-flight",
        scale=SCALE,
        upstreams="http",
        components=[*SERVICES, "mobile"],
    ) as p:
        yield p


@pytest.fixture(scope="module")
def held(platform: Platform) -> Iterator[Gate]:
    with gate(platform.url("catalog"), hold="/like") as made:
        yield made


@pytest.fixture(scope="module")
def mobile(platform: Platform, held: Gate) -> Iterator[str]:
    """A second mobile BFF process, the platform's config but catalog behind the gate."""
    with another_bff(platform, "mobile", upstreams={"catalog": held.url}) as process:
        yield process.url


def test_a_duplicate_of_a_command_still_in_flight_is_409(mobile: str, held: Gate) -> None:
    with httpx.Client(timeout=WAIT_S) as http, ThreadPoolExecutor(1) as pool:
        alice = Caller(http, mobile, login(http, mobile, "/v1/auth/token", "alice"))
        key = fresh_key()
        first = pool.submit(send, alice, "POST", f"/v1/tracks/{TRACK}/like", key=key)
        assert held.arrived.wait(WAIT_S), "the first like never reached catalog"
        duplicate = send(alice, "POST", f"/v1/tracks/{TRACK}/like", key=key)
        held.open()
        assert duplicate.status_code == 409, duplicate.text
        assert duplicate.headers["content-type"].startswith("application/problem+json")
        assert duplicate.headers["retry-after"]
        assert first.result(WAIT_S).status_code == 200
