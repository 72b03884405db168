"""The edge cache stage: hits, 304s, stale-while-revalidate, stale-if-error, coalescing.

It sits right above the handler, so it sees the authenticated principal (the key's scope)
and the handler's exceptions (an upstream error may be answered from a stale entry).

    miss        run the handler once per key (concurrent misses wait for that one run),
                store a complete 200 without cookies, tagged by the handler
    hit         answer from the entry (304 when If-None-Match matches its ETag)
    stale       past the TTL but inside stale-while-revalidate: answer from the entry and
                refresh it in the background (one refresh per key at a time); or the handler
                failed (5xx or an upstream error) inside stale-if-error: answer from it
    bypass      no key (a per-user route without a principal, a malformed parameter)

With compression on (the compress stage below), a fill asks for the answer in identity
(``request.coding``) and stores the body in each coding too (``compression.cache_levels``),
each with its own ETag; an answer from an entry to a request with ``Accept-Encoding`` is the
variant it negotiates (:func:`coded`): a compressed hit costs a lookup, not a compression,
and a request without the header costs what it did before compression. A request whose
``Accept-Encoding`` rules out everything goes on to the compress stage, which answers 406.

A backend failure is counted and skipped for ``cache.backend_retry_s``; requests go on to
the upstreams. A purge that lands while a fill is in flight wins: that fill is not stored.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from tailor.cache.backend import CacheBackend, CacheBackendError, MemoryCacheBackend
from tailor.cache.entry import CacheEntry, Variant, strong_etag
from tailor.cache.headers import NO_STORE, X_CACHE, cache_control, etag_matches
from tailor.cache.invalidation import InvalidationSubscriber
from tailor.cache.key import KeyShape
from tailor.cache.metrics import CacheMetrics
from tailor.cache.policy import CachePolicy
from tailor.cache.redis_backend import RedisCacheBackend
from tailor.chain import Chain, Outcome, awaitable
from tailor.compression.negotiate import IDENTITY, Negotiator
from tailor.compression.represent import Representations, with_vary
from tailor.errors import ConfigError, UpstreamError
from tailor.http import Request, Response
from tailor.observe.metrics import TallyChild
from tailor.routing import Route

if TYPE_CHECKING:
    from tailor.aggregate.engine import Degradation
    from tailor.pipeline import BuildContext

log = logging.getLogger("tailor.cache")

CACHEABLE_METHODS = frozenset({"GET", "HEAD"})
DEGRADED_HEADER = "tailor-degraded"  # set by tailor.aggregate on a partial response
MAX_TAGS = 256
_NOT_MODIFIED_HEADERS = frozenset({"cache-control", "etag", "vary", "age", X_CACHE})


@dataclass(frozen=True, slots=True)
class CachedRoute:
    """A cached route and what the stage derives from its policy once, not per request."""

    template: str
    policy: CachePolicy
    key: KeyShape
    cache_control: str  # the Cache-Control of what the edge stores for this route
    vary: tuple[str, str] | None  # the Vary header, when the policy names headers
    hits: TallyChild  # this route's lookups that were hits: counted on every hit
    #: The headers every answer from an entry carries whatever the entry: Cache-Control
    #: and Vary (the ETag, Age and X-Cache follow, per entry and request).
    entry_headers: tuple[tuple[str, str], ...]
    #: entry_headers of an answer in each content coding (its Content-Encoding added).
    coded_headers: dict[str, tuple[tuple[str, str], ...]]

    @classmethod
    def of(
        cls, route: Route, policy: CachePolicy, metrics: CacheMetrics, codings: Sequence[str] = ()
    ) -> CachedRoute:
        control = cache_control(policy)
        vary = ("vary", ", ".join(policy.vary)) if policy.vary else None
        return cls(
            route.template,
            policy,
            KeyShape(policy, route),
            control,
            vary,
            metrics.lookups.labels(route.template, "hit"),
            entry := _cache_headers(control, vary),
            {coding: (*entry, ("content-encoding", coding)) for coding in codings},
        )

    def headers_with(self, control: str | None) -> tuple[tuple[str, str], ...]:
        """The cache headers of an answer of this route stored with ``control`` (None: not
        stored, and no Cache-Control of the edge's)."""
        if control == self.cache_control:
            return self.entry_headers
        return _cache_headers(control, self.vary)


def _cache_headers(
    control: str | None, vary: tuple[str, str] | None
) -> tuple[tuple[str, str], ...]:
    return ((("cache-control", control),) if control is not None else ()) + (
        (vary,) if vary is not None else ()
    )


# Not frozen: a frozen dataclass sets each of its fields through object.__setattr__. Treat
# it as a value all the same (replace() makes a new one). Hits build none: see respond().
@dataclass(slots=True)
class Answer:
    """What a fill or an entry answers with, before it becomes one caller's Response."""

    status: int
    body: bytes
    headers: Sequence[tuple[str, str]]
    label: str
    etag: str | None = None
    #: Cache-Control (when the edge says how to keep it) and Vary, from CachedRoute.headers_with
    cache_headers: tuple[tuple[str, str], ...] = ()
    age: float | None = None
    shareable: bool = True  # False: a waiting caller must not get it (it sets a cookie)
    #: What a coalesced waiter copies onto its own request from the run it waited for (the
    #: metrics read them).
    degraded: Sequence[Degradation] = ()
    error_cause: str | None = None
    #: The body in each coding, when the answer is one the cache keeps (None: not stored, so
    #: the compress stage above encodes it if it should).
    variants: Mapping[str, Variant] | None = None

    @classmethod
    def from_entry(cls, entry: CacheEntry, label: str, cached: CachedRoute, now: float) -> Answer:
        # entry.headers is not copied here: respond() builds a new list from it.
        return cls(
            entry.status,
            entry.body,
            entry.headers,
            label,
            entry.etag,
            cached.entry_headers,
            entry.age(now),
            variants=entry.variants,
        )


class CacheStage:
    name = "cache"

    def __init__(
        self,
        routes: dict[int, CachedRoute],
        backend: CacheBackend,
        metrics: CacheMetrics,
        *,
        backend_retry_s: float = 1.0,
        representations: Representations | None = None,
    ) -> None:
        self._routes = routes  # by id() of the Route: the router hands out the same objects
        self._represent = representations
        self.backend = backend
        self._m = metrics
        self._retry_s = backend_retry_s
        self._skip_until = 0.0
        self._inflight: dict[str, asyncio.Task[Answer]] = {}
        self._purged_at: dict[str, float] = {}
        self.subscriber: InvalidationSubscriber | None = None

    @classmethod
    def build(cls, ctx: BuildContext) -> CacheStage | None:
        settings = ctx.config.cache
        if not settings.enabled:
            return None
        policies: list[tuple[Route, CachePolicy]] = []
        for route in ctx.router.routes:
            if route.cache is None:
                continue
            policy = route.cache
            timings = settings.routes.get(route.template)
            if timings is not None:
                policy = policy.with_timings(
                    timings.ttl_s, timings.stale_while_revalidate_s, timings.stale_if_error_s
                )
            policies.append((route, policy))
        templates = {route.template for route, _ in policies}
        for template in settings.routes:
            if template not in templates:
                raise ConfigError(f"cache.routes.{template}", "no cached route has this path")
        if not policies:
            return None
        metrics = CacheMetrics(ctx.metrics.registry)
        compression = ctx.config.compression
        representations = None
        if compression.enabled:
            representations = Representations(compression, compression.cache_levels)
        codings = compression.codings if compression.enabled else ()
        routes = {
            id(route): CachedRoute.of(route, policy, metrics, codings) for route, policy in policies
        }
        backend: CacheBackend
        if settings.backend == "redis":
            backend = RedisCacheBackend(ctx.redis(), ctx.config.name)
        else:
            backend = MemoryCacheBackend(settings.max_entries, settings.max_bytes)
        stage = cls(
            routes,
            backend,
            metrics,
            backend_retry_s=settings.backend_retry_s,
            representations=representations,
        )
        if ctx.config.state.redis_url and settings.invalidation_channel:
            stage.subscriber = InvalidationSubscriber(
                ctx.redis,
                settings.invalidation_channel,
                stage.purge,
                metrics,
                on_connected=stage._on_subscribed,
            )
            ctx.background.append(stage.subscriber.run)
        return stage

    # -- the stage ------------------------------------------------------------------------

    def wrap(self, next_handler: Chain) -> Chain:
        routes = self._routes
        # A backend that never waits (memory, which cannot fail) is read without coroutines.
        peek = self.backend.peek if isinstance(self.backend, MemoryCacheBackend) else None
        negotiator = None if self._represent is None else Negotiator(self._represent.codings)
        compressing = negotiator is not None

        # Not a coroutine with the memory backend: a hit is answered at once (tailor.pipeline).
        def cache(request: Request) -> Outcome:
            cached = routes.get(id(request.route))
            if cached is None or request.method not in CACHEABLE_METHODS:
                return next_handler(request)
            key = cached.key.of(request)
            if key is None:
                self._count(cached, "bypass")
                return next_handler(request)
            if peek is None:
                return looked_up(request, cached, key)
            return from_entry(request, cached, key, peek(key))

        async def looked_up(request: Request, cached: CachedRoute, key: str) -> Response:
            return await awaitable(from_entry(request, cached, key, await self._get(key)))

        def from_entry(
            request: Request, cached: CachedRoute, key: str, entry: CacheEntry | None
        ) -> Outcome:
            if entry is not None:
                now = time.time()
                age = entry.age(now)  # worked out once: the Age header needs it too
                if age < entry.ttl_s:
                    cached.hits.value += 1  # TallyChild.inc, without the call
                    label = "hit"
                elif entry.revalidatable(now):
                    self._refresh(key, cached, request, next_handler, entry)
                    self._count(cached, "stale")
                    label = "stale"
                else:
                    return filled(request, cached, key, entry)
                if compressing and "accept-encoding" in request.headers:
                    assert negotiator is not None
                    return coded(
                        negotiator,
                        next_handler,
                        request,
                        cached.coded_headers,
                        entry.variants,
                        entry.status,
                        entry.body,
                        entry.headers,
                        cached.entry_headers,
                        entry.etag,
                        age,
                        label,
                    )
                return respond(
                    request,
                    entry.status,
                    entry.body,
                    entry.headers,
                    cached.entry_headers,
                    entry.etag,
                    age,
                    label,
                )
            return filled(request, cached, key, entry)

        async def filled(
            request: Request, cached: CachedRoute, key: str, stale: CacheEntry | None
        ) -> Response:
            asks = negotiator is not None and "accept-encoding" in request.headers
            if asks:
                assert negotiator is not None
                if negotiator.coding(request.headers["accept-encoding"]) is None:
                    return await awaitable(next_handler(request))  # the compress stage: 406
            answer = await self._fill(key, cached, request, next_handler, stale)
            self._count(cached, answer.label)
            if negotiator is not None and asks:
                return await awaitable(
                    coded(
                        negotiator,
                        next_handler,
                        request,
                        cached.coded_headers,
                        answer.variants or {},
                        answer.status,
                        answer.body,
                        answer.headers,
                        answer.cache_headers,
                        answer.etag,
                        answer.age,
                        answer.label,
                    )
                )
            return respond(
                request,
                answer.status,
                answer.body,
                answer.headers,
                answer.cache_headers,
                answer.etag,
                answer.age,
                answer.label,
            )

        return cache

    def _count(self, cached: CachedRoute, result: str) -> None:
        self._m.lookups.labels(cached.template, result).inc()

    # -- filling ----------------------------------------------------------------------------

    async def _fill(
        self,
        key: str,
        cached: CachedRoute,
        request: Request,
        next_handler: Chain,
        stale: CacheEntry | None,
    ) -> Answer:
        running = self._inflight.get(key)
        if running is not None:
            answer = await asyncio.shield(running)
            if answer.shareable:
                request.degraded, request.error_cause = answer.degraded, answer.error_cause
                return replace(answer, label="coalesced")
            # A response that sets a cookie belongs to its own caller only.
            return await self._run(cached, request, next_handler, stale, "miss")
        task = self._start(key, cached, request, next_handler, stale, "miss")
        # shield: if this caller goes away, the run still completes for those waiting on it.
        return await asyncio.shield(task)

    def _refresh(
        self,
        key: str,
        cached: CachedRoute,
        request: Request,
        next_handler: Chain,
        stale: CacheEntry,
    ) -> None:
        if key in self._inflight:
            return  # one refresh per key at a time
        self._start(key, cached, detached(request), next_handler, stale, "refresh")

    def _start(
        self,
        key: str,
        cached: CachedRoute,
        request: Request,
        next_handler: Chain,
        stale: CacheEntry | None,
        kind: str,
    ) -> asyncio.Task[Answer]:
        task = asyncio.ensure_future(self._run(cached, request, next_handler, stale, kind, key=key))
        self._inflight[key] = task

        def done(finished: asyncio.Task[Answer]) -> None:
            if self._inflight.get(key) is finished:
                del self._inflight[key]
            if kind == "refresh" and not finished.cancelled() and finished.exception():
                log.info("background refresh failed: %r", finished.exception())

        task.add_done_callback(done)
        return task

    async def _run(
        self,
        cached: CachedRoute,
        request: Request,
        next_handler: Chain,
        stale: CacheEntry | None,
        kind: str,
        *,
        key: str | None = None,
    ) -> Answer:
        """Run the handler; store what it answered if it may be stored."""
        assert request.route is not None
        template = request.route.template
        started = time.monotonic()
        self._m.upstream_fetches.labels(template, kind).inc()
        # In identity: this answer may be kept, and the cache makes every coding's variant
        # itself (the compress stage below reads this instead of Accept-Encoding).
        request.coding = IDENTITY
        try:
            response = await awaitable(next_handler(request))
        except UpstreamError:
            if stale is not None and stale.usable_on_error(time.time()):
                return Answer.from_entry(stale, "stale", cached, time.time())
            raise
        if response.status >= 500 and stale is not None and stale.usable_on_error(time.time()):
            return Answer.from_entry(stale, "stale", cached, time.time())
        headers = tuple(response.headers)
        plain = Answer(
            response.status,
            response.body,
            headers,
            "miss",
            cache_headers=cached.headers_with(None),
            degraded=request.degraded,
            error_cause=request.error_cause,
        )
        # Before the status check: a cookie is its caller's alone whatever the status (a 403
        # that sets one must not be handed to the callers coalesced onto this run either).
        if any(name.lower() == "set-cookie" for name, _ in headers):
            self._m.stores.labels(template, "uncacheable").inc()
            return replace(plain, cache_headers=cached.headers_with(NO_STORE), shareable=False)
        if response.status != 200:
            return plain
        if request.degraded or response.header(DEGRADED_HEADER) is not None:
            # A partial answer is not the answer: neither we nor the client keep it.
            self._m.stores.labels(template, "degraded").inc()
            return replace(plain, cache_headers=cached.headers_with(NO_STORE))
        etag = strong_etag(response.body)
        variants: dict[str, Variant] = {}
        represent = self._represent
        if represent is not None and represent.compressible(200, headers, response.body):
            variants = represent.variants(response.body)
            # identity too: which representation is sent depends on Accept-Encoding
            headers = tuple(with_vary(headers))
        answer = replace(
            plain,
            headers=headers,
            etag=etag,
            cache_headers=cached.entry_headers,
            variants=variants,
        )
        tags = _tags(request)
        if key is None:
            return answer
        if self._purged_since(tags, started):
            self._m.stores.labels(template, "raced").inc()
            return answer
        entry = CacheEntry(
            200,
            response.body,
            list(headers),
            etag,
            stored_at=time.time(),
            ttl_s=cached.policy.ttl_s,
            swr_s=cached.policy.stale_while_revalidate_s,
            sie_s=cached.policy.stale_if_error_s,
            tags=tags,
            variants=variants,
        )
        if await self._set(key, entry):
            self._m.stores.labels(template, "stored").inc()
        return answer

    # -- invalidation -----------------------------------------------------------------------

    async def purge(self, tags: list[str]) -> None:
        """Drop every entry tagged with one of ``tags``, and make fills already in flight
        (which may have read the old data) not store what they get."""
        now = time.monotonic()
        for t in tags:
            self._purged_at[t] = now
        if len(self._purged_at) > 50_000:
            horizon = now - 60.0  # longer than any fill can run
            self._purged_at = {t: at for t, at in self._purged_at.items() if at > horizon}
        # New requests must not join a run that started before this purge.
        self._inflight.clear()
        try:
            purged = await self.backend.purge_tags(tags)
        except CacheBackendError as exc:
            self._backend_failed("purge", exc)
            raise
        self._m.purged.labels(self.backend.name).inc(purged)

    async def _on_subscribed(self, reconnect: bool) -> None:
        if reconnect:
            # Events published while we were away are lost (pub/sub does not replay).
            log.info("invalidation channel back; dropping this instance's entries")
            await self.backend.clear()

    def _purged_since(self, tags: list[str], started: float) -> bool:
        purged_at = self._purged_at
        return any(purged_at.get(t, -1.0) >= started for t in tags)

    # -- the backend, failing safe ---------------------------------------------------------

    async def _get(self, key: str) -> CacheEntry | None:
        if self._skip_until and time.monotonic() < self._skip_until:
            return None
        try:
            return await self.backend.get(key)
        except CacheBackendError as exc:
            self._backend_failed("get", exc)
            return None

    async def _set(self, key: str, entry: CacheEntry) -> bool:
        if time.monotonic() < self._skip_until:
            return False
        try:
            await self.backend.set(key, entry)
        except CacheBackendError as exc:
            self._backend_failed("set", exc)
            return False
        return True

    def _backend_failed(self, op: str, exc: CacheBackendError) -> None:
        self._m.backend_errors.labels(self.backend.name, op).inc()
        if time.monotonic() >= self._skip_until:
            log.warning("cache backend %s failed (%s); serving from upstreams for %.1f s",
                        self.backend.name, exc, self._retry_s)  # fmt: skip
        self._skip_until = time.monotonic() + self._retry_s


def _tags(request: Request) -> list[str]:
    raw = request.cache_tags or ()
    return list(dict.fromkeys(t for t in raw if isinstance(t, str) and t))[:MAX_TAGS]


def respond(
    request: Request,
    status: int,
    body: bytes,
    headers: Sequence[tuple[str, str]],
    cache_headers: tuple[tuple[str, str], ...],
    etag: str | None,
    age: float | None,
    label: str,
) -> Response:
    """One caller's response, from an entry (every hit, without building an :class:`Answer`)
    or from an Answer's fields: its headers, then the cache headers, ETag, Age and X-Cache;
    304 when the caller already holds this version."""
    request.cache_outcome = label  # for the server span, without a search of the headers
    if etag is not None and age is not None:  # every answer from an entry: one list display
        out = [*headers, *cache_headers, ("etag", etag), ("age", str(int(age))), (X_CACHE, label)]
    else:
        out = [*headers, *cache_headers]
        if etag is not None:
            out.append(("etag", etag))
        if age is not None:
            out.append(("age", str(int(age))))
        out.append((X_CACHE, label))
    if etag is not None:
        if_none_match = request.headers.get("if-none-match")
        if if_none_match and etag_matches(if_none_match, etag):
            return Response(304, b"", [(k, v) for k, v in out if k in _NOT_MODIFIED_HEADERS])
    return Response(status, body, out)  # a HEAD's body is left out by the server


def coded(
    negotiator: Negotiator,
    next_handler: Chain,
    request: Request,
    coded_headers: dict[str, tuple[tuple[str, str], ...]],
    variants: Mapping[str, Variant],
    status: int,
    body: bytes,
    headers: Sequence[tuple[str, str]],
    cache_headers: tuple[tuple[str, str], ...],
    etag: str | None,
    age: float | None,
    label: str,
) -> Outcome:
    """:func:`respond` to a request with ``Accept-Encoding``: the variant of the coding it
    negotiates, with that variant's ETag (and 304 against it), or identity when there is none
    in that coding (the answer is not kept or not compressible, or identity was asked for).
    A header that rules out everything goes on to the compress stage below: 406."""
    accept = request.headers["accept-encoding"]
    coding = negotiator.known.get(accept) or negotiator.choose(accept)
    if coding is None:
        return next_handler(request)
    variant = variants.get(coding)
    if variant is not None:
        body, etag, cache_headers = variant.body, variant.etag, coded_headers[coding]
    return respond(request, status, body, headers, cache_headers, etag, age, label)


def detached(request: Request) -> Request:
    """A copy of the request for a background refresh, so it shares no mutable state with
    the response already on its way."""
    clone = Request(
        request.method,
        request.path,
        request.query_string,
        dict(request.headers),
        request.client,
        scheme=request.scheme,
    )
    clone.request_id = request.request_id
    clone.route = request.route
    clone.path_params = dict(request.path_params)
    clone.principal = request.principal
    clone.received_at = time.perf_counter()
    return clone
