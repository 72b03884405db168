"""KeySet in isolation: the JWKS fetch is a counting function behind a gate, the clock is a
number the test moves (the behaviour is defined by time, so no test waits for it)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from harness import jwks

from tailor.auth.keyset import KeySet
from tailor.errors import UpstreamUnavailable


class Unknown(Exception):
    pass


class Unavailable(Exception):
    pass


class Issuer:
    """Serves a JWKS document, counts fetches; ``down`` makes a fetch fail, ``gate`` (when
    set) holds every fetch until it is opened."""

    def __init__(self, *kids: str) -> None:
        self.document = jwks(*kids)
        self.fetches = 0
        self.down = False
        self.gate: asyncio.Event | None = None

    async def fetch(self) -> bytes:
        self.fetches += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.down:
            raise UpstreamUnavailable("accounts", "connection refused")
        return json.dumps(self.document).encode()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _keyset(issuer: Issuer, clock: Clock, **options: Any) -> KeySet:
    settings: dict[str, Any] = {"refresh_interval_s": 30.0, "retry_after_failure_s": 1.0}
    return KeySet(issuer.fetch, algorithm="RS256", invalid=Unknown, unavailable=Unavailable,
                  clock=clock, **{**settings, **options})  # fmt: skip


async def test_concurrent_unknown_kids_while_the_issuer_is_down_share_one_fetch() -> None:
    issuer, clock = Issuer("k1"), Clock()
    issuer.down, issuer.gate = True, asyncio.Event()
    keys = _keyset(issuer, clock)
    flood = [asyncio.ensure_future(keys.key(f"made-up-{i}")) for i in range(200)]
    await asyncio.sleep(0)  # one loop turn: every caller has reached the refresh and waits
    issuer.gate.set()
    outcomes = await asyncio.gather(*flood, return_exceptions=True)
    assert issuer.fetches == 1
    assert all(isinstance(o, Unavailable) for o in outcomes)


async def test_unknown_kids_within_the_retry_interval_after_a_failure_make_no_fetch() -> None:
    issuer, clock = Issuer("k1"), Clock()
    issuer.down = True
    keys = _keyset(issuer, clock)
    for i in range(100):
        clock.now += 0.005  # 100 tokens over half a second
        with pytest.raises(Unavailable):
            await keys.key(f"made-up-{i}")
    assert issuer.fetches == 1


async def test_after_the_retry_interval_an_unknown_kid_is_fetched_again() -> None:
    issuer, clock = Issuer("k1"), Clock()
    issuer.down = True
    keys = _keyset(issuer, clock)
    with pytest.raises(Unavailable):
        await keys.key("made-up-1")
    clock.now += 1.0
    with pytest.raises(Unavailable):
        await keys.key("made-up-2")
    assert issuer.fetches == 2


async def test_an_issuer_blip_costs_at_most_the_retry_interval() -> None:
    issuer, clock = Issuer("k1"), Clock()
    issuer.down = True
    keys = _keyset(issuer, clock, retry_after_failure_s=0.5)
    with pytest.raises(Unavailable):
        await keys.key("k1")
    issuer.down = False  # back a moment later; the key set has not asked yet
    clock.now += 0.25
    with pytest.raises(Unavailable):
        await keys.key("k1")
    clock.now += 0.25
    assert await keys.key("k1") is not None
    assert issuer.fetches == 2


async def test_a_kid_after_an_ordinary_rotation_is_fetched_at_once() -> None:
    issuer, clock = Issuer("k1"), Clock()
    keys = _keyset(issuer, clock)
    await keys.key("k1")
    clock.now += 30.0  # the refresh interval since the last good fetch
    issuer.document = jwks("k1", "k2")  # the issuer rotates to k2
    assert await keys.key("k2") is not None
    assert issuer.fetches == 2


async def test_a_rotation_after_a_failure_is_fetched_once_the_issuer_is_back() -> None:
    issuer, clock = Issuer("k1"), Clock()
    keys = _keyset(issuer, clock)
    await keys.key("k1")
    clock.now += 30.0
    issuer.down = True
    with pytest.raises(Unavailable):
        await keys.key("k2")
    assert await keys.key("k1") is not None  # keys already held keep working meanwhile
    issuer.down, issuer.document = False, jwks("k1", "k2")
    clock.now += 1.0
    assert await keys.key("k2") is not None
    assert issuer.fetches == 3


async def test_a_caller_that_gives_up_does_not_cancel_the_refresh_others_wait_for() -> None:
    issuer, clock = Issuer("k1"), Clock()
    issuer.gate = asyncio.Event()
    keys = _keyset(issuer, clock)
    impatient = asyncio.ensure_future(keys.key("k1"))
    patient = asyncio.ensure_future(keys.key("k1"))
    await asyncio.sleep(0)
    impatient.cancel()
    issuer.gate.set()
    assert await patient is not None
    assert impatient.cancelled()
    assert issuer.fetches == 1
