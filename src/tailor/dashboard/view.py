"""What the page shows, computed from the scrape histories: one :class:`BffView` per BFF and a
:class:`Board` over them all. Pure functions of snapshots, so tests feed them metric text.

Rates are per second over the shortest window (``windows[0]``); SLO burn is computed over every
window: the share of 5xx answers divided by the error budget (``1 - objective``), so 1.0 spends
the budget exactly as fast as the objective allows and 14.4 pages (docs/dashboard.md).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import msgspec

from tailor.dashboard.scrape import History, Snapshot, label, total
from tailor.resilience.breaker import BreakerState

#: tailor_circuit_state's values as words: closed, half-open, open.
BREAKER_STATES = {int(s): s.name.lower().replace("_", "-") for s in BreakerState}
#: Cache lookup results that were answered from the cache, and those that are no lookup.
CACHE_HITS = frozenset({"hit", "stale"})
CACHE_NOT_LOOKED_UP = frozenset({"bypass"})


class RouteView(msgspec.Struct):
    route: str
    rate: float  # requests per second
    error_ratio: float | None  # 5xx share; None without traffic
    p50_ms: float | None
    p99_ms: float | None


class UpstreamView(msgspec.Struct):
    upstream: str
    breaker: str  # closed, half-open, open
    rate: float
    error_ratio: float | None  # calls whose outcome was not "ok"
    p99_ms: float | None
    rejected: float  # calls per second failed fast by the breaker or bulkhead


class Refusals(msgspec.Struct):
    rate_limited: float  # 429s per second
    shed: float  # 503s per second from load shedding


class DegradedView(msgspec.Struct):
    route: str
    part: str
    reason: str
    rate: float


class ClientView(msgspec.Struct):
    app: str
    platform: str
    version: str
    share: float  # of the calls counted since the BFF started


class DeprecationView(msgspec.Struct):
    route: str
    deprecated_at: float
    sunset_at: float | None
    rate: float  # calls per second to the deprecated route


class BurnView(msgspec.Struct):
    window_s: float
    error_ratio: float | None
    burn: float | None


class BffView(msgspec.Struct):
    name: str
    url: str
    up: bool
    error: str | None
    version: str | None
    skewed: bool  # runs a version other than most BFFs do (on a tie, every version is)
    scraped_at: float | None
    window_s: float | None  # the span the rates are over (None: not two scrapes yet)
    rate: float
    redis_up: bool | None  # the BFF's Redis answers PING (None: the BFF uses no Redis)
    routes: list[RouteView]
    upstreams: list[UpstreamView]
    cache_hit_ratio: float | None
    refusals: Refusals
    degraded: list[DegradedView]
    clients: list[ClientView]
    deprecations: list[DeprecationView]
    slo: list[BurnView]


class Board(msgspec.Struct):
    """The page's data: every BFF, and the tailor versions they run."""

    generated_at: float
    refresh_s: float
    objective: float
    windows_s: list[float]
    versions: dict[str, list[str]]  # version -> BFFs running it
    skew: bool  # more than one version among the BFFs that answer
    bffs: list[BffView]


def quantile(q: float, buckets: Mapping[float, float]) -> float | None:
    """The ``q`` quantile of a histogram given as cumulative counts by upper bound, linearly
    interpolated within its bucket as Prometheus' ``histogram_quantile`` does.

    >>> round(quantile(0.5, {0.1: 0.0, 0.2: 10.0, math.inf: 10.0}), 6)
    0.15
    """
    bounds = sorted(buckets)
    if not bounds or buckets[bounds[-1]] <= 0:
        return None
    rank = q * buckets[bounds[-1]]
    lower, below = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if math.isinf(bound):
                return lower  # past the last finite bound: that bound is all we know
            if count == below:
                return bound
            return lower + (bound - lower) * (rank - below) / (count - below)
        lower, below = bound, count
    return lower


def _latency(
    newest: Snapshot, oldest: Snapshot, name: str, key: str
) -> dict[str, dict[float, float]]:
    """A histogram's bucket increases by one label: ``{label value: {le: count}}``."""
    grown = newest.increase(
        oldest, f"{name}_bucket", lambda labels: f"{labels.get(key, '')}\0{labels.get('le', '')}"
    )
    by: dict[str, dict[float, float]] = {}
    for joined, count in grown.items():
        value, le = joined.split("\0")
        by.setdefault(value, {})[float(le)] = count
    return by


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 2)


def _ratio(part: float, whole: float) -> float | None:
    return part / whole if whole > 0 else None


def _is_error(labels: Mapping[str, str]) -> bool:
    return labels.get("status", "").startswith("5")


def bff_view(
    name: str, url: str, history: History, windows_s: Sequence[float], objective: float
) -> BffView:
    """The view of one BFF from its scrape history."""
    latest = history.latest
    last = history.last_up()
    version = None
    if last is not None:
        version = next((lb["version"] for lb, _ in last.series("tailor_build_info")), None)
    view = BffView(
        name=name,
        url=url,
        up=latest is not None and latest.up,
        error=latest.error if latest is not None else "not scraped yet",
        version=version,
        skewed=False,
        scraped_at=latest.at if latest is not None else None,
        window_s=None,
        rate=0.0,
        redis_up=_redis_up(last) if last is not None else None,
        routes=[],
        upstreams=[],
        cache_hit_ratio=None,
        refusals=Refusals(0.0, 0.0),
        degraded=[],
        clients=_clients(last) if last is not None else [],
        deprecations=[],
        slo=[_burn(history, w, objective) for w in windows_s],
    )
    span = history.window(windows_s[0])
    if span is not None:
        _fill_rates(view, *span)
    elif last is not None:
        view.upstreams = [
            UpstreamView(u, _breaker(last, u), 0.0, None, None, 0.0) for u in _upstreams(last)
        ]
    return view


def _fill_rates(view: BffView, oldest: Snapshot, newest: Snapshot) -> None:
    seconds = newest.at - oldest.at
    view.window_s = round(seconds, 3)

    def per_s(count: float) -> float:
        return round(count / seconds, 3)

    requests = "tailor_requests_total"
    calls = newest.increase(oldest, requests, label("route"))
    errors = newest.increase(
        oldest, requests, lambda lb: lb.get("route", "") if _is_error(lb) else ""
    )
    latency = _latency(newest, oldest, "tailor_request_duration_seconds", "route")
    routes = sorted({*calls, *(lb["route"] for lb, _ in newest.series(requests) if "route" in lb)})
    view.routes = [
        RouteView(
            route,
            per_s(calls.get(route, 0.0)),
            _ratio(errors.get(route, 0.0), calls.get(route, 0.0)),
            _ms(quantile(0.5, latency.get(route, {}))),
            _ms(quantile(0.99, latency.get(route, {}))),
        )
        for route in routes
    ]
    view.rate = per_s(sum(calls.values()))

    upstream_calls = newest.increase(oldest, "tailor_upstream_requests_total", label("upstream"))
    upstream_failed = newest.increase(
        oldest,
        "tailor_upstream_requests_total",
        lambda lb: lb.get("upstream", "") if lb.get("outcome") != "ok" else "",
    )
    upstream_latency = _latency(newest, oldest, "tailor_upstream_duration_seconds", "upstream")
    rejected = newest.increase(oldest, "tailor_circuit_rejections_total", label("upstream"))
    for upstream, count in newest.increase(
        oldest, "tailor_bulkhead_rejections_total", label("upstream")
    ).items():
        rejected[upstream] = rejected.get(upstream, 0.0) + count
    view.upstreams = [
        UpstreamView(
            upstream,
            _breaker(newest, upstream),
            per_s(upstream_calls.get(upstream, 0.0)),
            _ratio(upstream_failed.get(upstream, 0.0), upstream_calls.get(upstream, 0.0)),
            _ms(quantile(0.99, upstream_latency.get(upstream, {}))),
            per_s(rejected.get(upstream, 0.0)),
        )
        for upstream in sorted({*_upstreams(newest), *upstream_calls})
    ]

    lookups = newest.increase(oldest, "tailor_cache_lookups_total", label("result"))
    hits = sum(n for result, n in lookups.items() if result in CACHE_HITS)
    looked_up = sum(n for result, n in lookups.items() if result not in CACHE_NOT_LOOKED_UP)
    view.cache_hit_ratio = _ratio(hits, looked_up)

    limited = newest.increase(oldest, "tailor_ratelimit_denied_total", total)
    shed = newest.increase(oldest, "tailor_shed_requests_total", total)
    view.refusals = Refusals(per_s(limited.get("all", 0.0)), per_s(shed.get("all", 0.0)))

    degraded = newest.increase(
        oldest,
        "tailor_degraded_parts_total",
        lambda lb: "\0".join((lb.get("route", ""), lb.get("part", ""), lb.get("reason", ""))),
    )
    view.degraded = []
    for key, count in sorted(degraded.items()):
        if count > 0:
            route, part, reason = key.split("\0")
            view.degraded.append(DegradedView(route, part, reason, per_s(count)))

    sunsets = {lb["route"]: v for lb, v in newest.series("tailor_route_sunset_timestamp_seconds")}
    view.deprecations = [
        DeprecationView(
            lb["route"], at, sunsets.get(lb["route"]), per_s(calls.get(lb["route"], 0.0))
        )
        for lb, at in sorted(
            newest.series("tailor_route_deprecation_timestamp_seconds"),
            key=lambda item: item[0]["route"],
        )
    ]


def _redis_up(snapshot: Snapshot) -> bool | None:
    value = snapshot.samples.get("tailor_redis_up", {}).get(())
    return None if value is None else value == 1.0


def _upstreams(snapshot: Snapshot) -> list[str]:
    return sorted(lb["upstream"] for lb, _ in snapshot.series("tailor_circuit_state"))


def _breaker(snapshot: Snapshot, upstream: str) -> str:
    value = snapshot.samples.get("tailor_circuit_state", {}).get((("upstream", upstream),))
    if value is None:
        return "unknown"
    return BREAKER_STATES.get(int(value), "unknown")


def _clients(snapshot: Snapshot) -> list[ClientView]:
    counts: dict[tuple[str, str, str], float] = {}
    for lb, value in snapshot.series("tailor_client_requests_total"):
        key = (lb.get("app", ""), lb.get("platform", ""), lb.get("version", ""))
        counts[key] = counts.get(key, 0.0) + value
    whole = sum(counts.values())
    return [
        ClientView(app, platform, version, round(count / whole, 4))
        for (app, platform, version), count in sorted(counts.items(), key=lambda kv: -kv[1])
        if whole > 0
    ]


def _burn(history: History, window_s: float, objective: float) -> BurnView:
    span = history.window(window_s)
    if span is None:
        return BurnView(window_s, None, None)
    oldest, newest = span
    calls = newest.increase(oldest, "tailor_requests_total", total).get("all", 0.0)
    errors = newest.increase(
        oldest, "tailor_requests_total", lambda lb: "all" if _is_error(lb) else ""
    ).get("all", 0.0)
    ratio = _ratio(errors, calls)
    burn = None if ratio is None else round(ratio / (1.0 - objective), 3)
    return BurnView(window_s, ratio, burn)


def board(
    targets: Mapping[str, str],
    histories: Mapping[str, History],
    *,
    windows_s: Sequence[float],
    objective: float,
    refresh_s: float,
    now: float,
) -> Board:
    """The whole page's data."""
    views = [bff_view(n, targets[n], histories[n], windows_s, objective) for n in targets]
    versions: dict[str, list[str]] = {}
    for view in views:
        if view.up and view.version is not None:
            versions.setdefault(view.version, []).append(view.name)
    most = max((len(names) for names in versions.values()), default=0)
    common = [v for v, names in versions.items() if len(names) == most]
    for view in views:
        view.skewed = len(versions) > 1 and (view.version not in common or len(common) > 1)
    return Board(
        generated_at=now,
        refresh_s=refresh_s,
        objective=objective,
        windows_s=list(windows_s),
        versions=versions,
        skew=len(versions) > 1,
        bffs=views,
    )
