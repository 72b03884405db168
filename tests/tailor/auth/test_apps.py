"""The app registry's cache: renewed ahead of expiry in the background, never used past it."""

from __future__ import annotations

import asyncio

import msgspec
import pytest

from tailor.auth.apps import App, AppRegistry, RegistryUnavailable


class Registry:
    """The fetch seam: answers from ``apps``, counts lookups, and holds each answer until
    ``gate`` is set when a test wants a lookup in flight."""

    def __init__(self) -> None:
        self.apps: dict[str, App] = {"acme": App("acme", status="active", bffs=["mobile"])}
        self.lookups = 0
        self.gate = asyncio.Event()
        self.gate.set()
        self.down = False

    async def fetch(self, client_id: str) -> tuple[int, bytes]:
        self.lookups += 1
        await self.gate.wait()
        if self.down:
            return 503, b""
        app = self.apps.get(client_id)
        return (200, msgspec.json.encode(app)) if app else (404, b"")


@pytest.fixture
def now() -> list[float]:
    return [1000.0]


@pytest.fixture
def registry() -> Registry:
    return Registry()


def cache(registry: Registry, now: list[float]) -> AppRegistry:
    return AppRegistry(registry.fetch, ttl_s=5.0, clock=lambda: now[0])


async def test_a_lookup_near_expiry_is_served_at_once_and_renewed_in_the_background(
    registry: Registry, now: list[float]
) -> None:
    apps = cache(registry, now)
    assert (await apps.get("acme")).status == "active"
    registry.apps["acme"] = App("acme", status="suspended", bffs=["mobile"])
    registry.gate.clear()  # the renewal will hang until released
    now[0] += 4.5  # in the last fifth of the 5 s life
    assert apps.known("acme").status == "active"  # no wait: the entry is still valid
    await asyncio.sleep(0)  # one turn of the loop: the renewal task starts
    assert registry.lookups == 2
    registry.gate.set()
    async with asyncio.timeout(2):
        while apps.known("acme") is None or apps.known("acme").active:  # noqa: ASYNC110
            await asyncio.sleep(0)  # bounded: until the renewal has landed
    assert apps.known("acme").status == "suspended"


async def test_one_renewal_at_a_time_however_many_callers(
    registry: Registry, now: list[float]
) -> None:
    apps = cache(registry, now)
    await apps.get("acme")
    registry.gate.clear()
    now[0] += 4.5
    for _ in range(50):
        apps.known("acme")
        await apps.get("acme")
        await asyncio.sleep(0)  # let any renewal start
    assert registry.lookups == 2
    registry.gate.set()


async def test_an_entry_is_never_used_past_its_ttl(registry: Registry, now: list[float]) -> None:
    apps = cache(registry, now)
    await apps.get("acme")
    now[0] += 5.0
    assert apps.known("acme") is None  # expired: the caller must look it up and wait
    registry.down = True
    with pytest.raises(RegistryUnavailable):
        await apps.get("acme")


async def test_a_failed_renewal_leaves_the_entry_to_expire_on_time(
    registry: Registry, now: list[float]
) -> None:
    apps = cache(registry, now)
    await apps.get("acme")
    registry.down = True
    now[0] += 4.5
    assert apps.known("acme").active
    await asyncio.sleep(0)  # let the renewal run and fail (it is one await deep)
    await asyncio.sleep(0)
    assert apps.known("acme").active  # still the entry in hand, within its ttl
    now[0] += 0.5
    assert apps.known("acme") is None
