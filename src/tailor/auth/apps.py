"""The app registry as the edge sees it: which app (client id) may call which BFF and route.

Entries come from the registry service (``GET /apps/{client_id}``) and are cached for a few
seconds, answers "no such app" included, so a suspended app is refused within that time
and unknown client ids do not hammer the registry.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import msgspec

from tailor.auth.authenticator import CredentialsUnavailable
from tailor.errors import TailorError


class App(msgspec.Struct, frozen=True):
    """One registered app. ``routes`` maps a BFF name to ``"METHOD /template"`` entries, or
    ``["*"]`` for every route of that BFF.

    >>> app = App("narrow-widget", status="active", bffs=["mobile"],
    ...           routes={"mobile": ["GET /v1/tracks/{id}"]}, tier="free")
    >>> app.allows("mobile", "GET", "/v1/tracks/{id}"), app.allows("mobile", "GET", "/v1/home")
    (True, False)
    """

    client_id: str
    name: str = ""
    status: str = "suspended"  # an entry without a status is not trusted as active
    bffs: list[str] = msgspec.field(default_factory=list)
    routes: dict[str, list[str]] = msgspec.field(default_factory=dict)
    scopes: list[str] = msgspec.field(default_factory=list)
    tier: str = "free"

    @property
    def active(self) -> bool:
        return self.status == "active"

    def allows(self, bff: str, method: str, template: str) -> bool:
        if bff not in self.bffs:
            return False
        allowed = self.routes.get(bff, [])
        return "*" in allowed or f"{method} {template}" in allowed


class RegistryUnavailable(CredentialsUnavailable):
    """The registry could not be asked and nothing fresh is cached."""


#: GET one app: returns (status, body). A transport failure raises a TailorError.
AppFetcher = Callable[[str], Awaitable[tuple[int, bytes]]]

_decode = msgspec.json.Decoder(App).decode


#: A lookup in use is renewed in the background during the last part of its life, so steady
#: traffic never waits for the registry; an entry is never used past ``ttl_s`` (a suspension
#: still takes effect within ``ttl_s``).
REFRESH_AHEAD = 0.2


class AppRegistry:
    """Cached lookups of apps by client id. ``None`` means the registry does not know it.

    An illustration (it needs the registry service to ``fetch`` from, so it is not a
    doctest)::

        registry = AppRegistry(fetch, ttl_s=5.0)
        app = await registry.get("acme-player")
    """

    def __init__(
        self,
        fetch: AppFetcher,
        *,
        ttl_s: float = 5.0,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._fetch = fetch
        self._clock = clock
        self._ttl_s = ttl_s
        self._max = max_entries
        # client id -> (expires_at, refresh_at, app)
        self._cache: dict[str, tuple[float, float, App | None]] = {}
        self._inflight: dict[str, asyncio.Future[App | None]] = {}

    def known(self, client_id: str) -> App | None:
        """The app if a fresh lookup found it, without waiting; else ``None``: ask :meth:`get`
        (which also answers the cached "no such app")."""
        entry = self._fresh(client_id)
        return entry[2] if entry is not None else None

    async def get(self, client_id: str) -> App | None:
        entry = self._fresh(client_id)
        if entry is not None:
            return entry[2]
        # Shielded: a caller that gives up must not cancel the lookup others share.
        return await asyncio.shield(self._lookup_once(client_id))

    def _fresh(self, client_id: str) -> tuple[float, float, App | None] | None:
        """The entry of ``client_id`` while within its ``ttl_s``, else ``None``. An entry in
        the last part of its life is renewed in the background meanwhile; a failed renewal
        changes nothing: the entry expires on time and the next caller looks it up."""
        entry = self._cache.get(client_id)
        if entry is None:
            return None
        now = self._clock()
        if entry[0] <= now:
            return None
        if entry[1] <= now:
            self._lookup_once(client_id)
        return entry

    def _lookup_once(self, client_id: str) -> asyncio.Future[App | None]:
        """The lookup of ``client_id`` in flight, started if there is none (a burst of
        requests shares one)."""
        future = self._inflight.get(client_id)
        if future is None:
            future = self._inflight[client_id] = asyncio.ensure_future(
                self._lookup_and_store(client_id)
            )
            future.add_done_callback(lambda f: self._settled(client_id, f))
        return future

    async def _lookup_and_store(self, client_id: str) -> App | None:
        started = self._clock()
        app = await self._lookup(client_id)
        self._cache.pop(client_id, None)  # re-insert: the dict's order is the eviction order
        if len(self._cache) >= self._max:
            self._cache.pop(next(iter(self._cache)))
        ttl = self._ttl_s
        self._cache[client_id] = (started + ttl, started + ttl * (1 - REFRESH_AHEAD), app)
        return app

    def _settled(self, client_id: str, future: asyncio.Future[App | None]) -> None:
        self._inflight.pop(client_id, None)
        if not future.cancelled():
            future.exception()  # retrieved here, so a failure nobody awaited is not logged

    async def _lookup(self, client_id: str) -> App | None:
        try:
            status, body = await self._fetch(client_id)
        except TailorError as exc:
            raise RegistryUnavailable("the app registry is unreachable") from exc
        if status == 404:
            return None
        if status != 200:
            raise RegistryUnavailable(f"the app registry answered {status}")
        try:
            app = _decode(body)
        except msgspec.DecodeError as exc:
            raise RegistryUnavailable("the app registry answered garbage") from exc
        return app if app.client_id == client_id else None
