"""Prometheus rules from an SLO spec: per BFF and route class, the error ratio of each SLI over
every window the alerts read (recording rules), the error budget as a series, and three
multi-window burn-rate alerts shared by every SLO (the Google SRE workbook's, ch. 5):

============================  ========  ===========  ============
alert                         severity  burn rate    windows
============================  ========  ===========  ============
``TailorSLOBurnFast``         page      14.4x        1 h and 5 m
``TailorSLOBurnSlow``         page      6x           6 h and 30 m
``TailorSLOBudgetTicket``     ticket    1x           3 d and 6 h
============================  ========  ===========  ============

A burn rate of 1 spends the budget (``1 - objective``) exactly over the SLO period; 14.4x for
an hour spends 2% of a 30-day budget. The short window makes an alert stop soon after the
burning does.

The series are tailor's own (:mod:`tailor.observe.metrics`): ``tailor_requests_total{route,
method, status}`` for availability (a 5xx is an error; refusals such as 429 are answers) and
``tailor_request_duration_seconds{route}`` for latency (slower than a bucket bound is an
error). A route class is the one rate limiting uses (``rate_limit.route_classes``, else
``read``/``write`` by method: :func:`tailor.ratelimit.policy.route_class`), so a BFF's routes
are read from its module.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from tailor.app import BFF
from tailor.errors import ConfigError
from tailor.ratelimit.policy import route_class
from tailor.slo.spec import BffObjectives, ClassObjectives, SloSpec

#: The windows the alerts read, in Prometheus' duration syntax.
WINDOWS = ("5m", "30m", "1h", "6h", "3d")
RATIO = "tailor:slo_error_ratio:rate{window}"
BUDGET = "tailor:slo_error_budget"
#: The labels every SLO series carries, and every alert keeps.
SLO_LABELS = ("bff", "route_class", "slo")


@dataclass(frozen=True)
class BurnAlert:
    """One multi-window burn-rate alert: the long and the short window must both burn
    faster than ``factor`` times the budget.

    >>> [(a.name, a.factor, a.long, a.short) for a in ALERTS][0]
    ('TailorSLOBurnFast', 14.4, '1h', '5m')
    """

    name: str
    severity: str
    factor: float
    long: str
    short: str
    meaning: str


ALERTS = (
    BurnAlert("TailorSLOBurnFast", "page", 14.4, "1h", "5m", "2% of a 30-day budget in 1 h"),
    BurnAlert("TailorSLOBurnSlow", "page", 6, "6h", "30m", "5% of a 30-day budget in 6 h"),
    BurnAlert("TailorSLOBudgetTicket", "ticket", 1, "3d", "6h", "10% of a 30-day budget in 3 d"),
)


@dataclass(frozen=True)
class ClassRoutes:
    """The routes of one route class: ``(method, template)`` pairs.

    >>> ClassRoutes("tv", "tv", "auth", (("POST", "/v1/auth/token"),)).routes[0][1]
    '/v1/auth/token'
    """

    bff: str
    job: str
    route_class: str
    routes: tuple[tuple[str, str], ...]


def classes_of(name: str, bff: BFF, objectives: BffObjectives) -> list[ClassRoutes]:
    """The route classes of a built BFF, checked against its objectives: each class the spec
    names must have a route, and each class the BFF has must have objectives (a route left
    out would never page)."""
    by_class: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for route in bff.router.routes:
        cls = route_class(route, bff.config.rate_limit.route_classes)
        by_class[cls].append((route.method, route.template))
    for cls in objectives.classes:
        if cls not in by_class:
            raise ConfigError(f"bffs.{name}.classes.{cls}", f"{name} has no route in this class")
    for cls in by_class:
        if cls not in objectives.classes:
            raise ConfigError(f"bffs.{name}.classes", f"route class {cls!r} has no objectives")
    job = objectives.job or name
    return [ClassRoutes(name, job, cls, tuple(sorted(by_class[cls]))) for cls in objectives.classes]


def _regex(values: Iterable[str]) -> str:
    """An RE2 alternation matching exactly ``values`` (templates hold ``{`` and ``.``), as
    the body of a PromQL string: each escaping backslash is itself escaped."""
    special = set("\\.+*?()|[]{}^$")
    return "|".join("".join("\\\\" + c if c in special else c for c in v) for v in sorted(values))


def _selectors(group: ClassRoutes, *, by_method: bool, extra: str = "") -> list[str]:
    """Label selectors covering the class's routes: one per method when the series has a
    method label (a template may be in one class for GET and another for POST)."""
    job = f'job="{group.job}"'
    if not by_method:
        templates = {t for _, t in group.routes}
        return [f'{{{job},route=~"{_regex(templates)}"{extra}}}']
    methods: dict[str, set[str]] = defaultdict(set)
    for method, template in group.routes:
        methods[method].add(template)
    return [
        f'{{{job},method="{m}",route=~"{_regex(ts)}"{extra}}}' for m, ts in sorted(methods.items())
    ]


def _sum_rate(metric: str, selectors: list[str], window: str) -> str:
    return "sum(" + " or ".join(f"rate({metric}{s}[{window}])" for s in selectors) + ")"


def availability_ratio(group: ClassRoutes, window: str) -> str:
    """The share of 5xx answers of the class over ``window`` (0 with traffic and no error)."""
    errors = _sum_rate(
        "tailor_requests_total", _selectors(group, by_method=True, extra=',status=~"5.."'), window
    )
    total = _sum_rate("tailor_requests_total", _selectors(group, by_method=True), window)
    return f"({errors} or vector(0))\n/\n{total}"


def latency_ratio(group: ClassRoutes, threshold_s: float, window: str) -> str:
    """The share of the class's requests slower than ``threshold_s`` over ``window``. The
    histogram has no method label: a template in two classes counts in both."""
    le = f',le="{float(threshold_s)!r}"'  # as tailor writes its bucket bounds
    fast = _sum_rate(
        "tailor_request_duration_seconds_bucket", _selectors(group, by_method=False, extra=le),
        window,
    )  # fmt: skip
    total = _sum_rate(
        "tailor_request_duration_seconds_count", _selectors(group, by_method=False), window
    )
    return f"1 - (\n{fast}\n/\n{total}\n)"


def _slis(objectives: ClassObjectives) -> list[tuple[str, float]]:
    found: list[tuple[str, float]] = []
    if objectives.availability is not None:
        found.append(("availability", objectives.availability))
    if objectives.latency is not None:
        found.append(("latency", objectives.latency.objective))
    return found


def recording_group(groups: list[ClassRoutes], objectives: BffObjectives) -> dict[str, Any]:
    """One BFF's recording rules: each SLI's error ratio over every window, and its budget."""
    rules: list[dict[str, Any]] = []
    for group in groups:
        spec = objectives.classes[group.route_class]
        for sli, objective in _slis(spec):
            labels = {"bff": group.bff, "route_class": group.route_class, "slo": sli}
            budget = round(1 - objective, 9)
            rules.append({"record": BUDGET, "expr": f"vector({budget!r})", "labels": labels})
            for window in WINDOWS:
                if sli == "availability":
                    expr = availability_ratio(group, window)
                else:
                    assert spec.latency is not None
                    expr = latency_ratio(group, spec.latency.threshold_s, window)
                rules.append(
                    {"record": RATIO.format(window=window), "expr": expr, "labels": labels}
                )
    return {"name": f"tailor-slo-{groups[0].bff}" if groups else "tailor-slo", "rules": rules}


def alert_rule(alert: BurnAlert) -> dict[str, Any]:
    """One burn-rate alert over every SLO: both windows over ``factor`` x its budget."""
    on = f"on ({', '.join(SLO_LABELS)})"

    def burning(window: str) -> str:
        return f"{RATIO.format(window=window)} > {on} ({alert.factor!r} * {BUDGET})"

    return {
        "alert": alert.name,
        "expr": f"(\n  {burning(alert.long)}\n)\nand {on}\n(\n  {burning(alert.short)}\n)",
        "labels": {"severity": alert.severity},
        "annotations": {
            "summary": (
                f"{{{{ $labels.bff }}}} {{{{ $labels.route_class }}}} routes burn their "
                f"{{{{ $labels.slo }}}} budget at over {alert.factor!r}x"
            ),
            # No $value: an alert's text stays the same while it fires (and is testable).
            "description": (
                f"The {alert.long} and {alert.short} error ratios of {{{{ $labels.bff }}}} "
                f"{{{{ $labels.route_class }}}} routes ({{{{ $labels.slo }}}}) are over "
                f"{alert.factor!r}x the budget: {alert.meaning} (docs/slo.md)."
            ),
        },
    }


def rules_file(spec: SloSpec, bffs: dict[str, BFF]) -> dict[str, Any]:
    """The whole rules file: a recording group per BFF, then the alerts over them all."""
    groups = [
        recording_group(classes_of(name, bffs[name], objectives), objectives)
        for name, objectives in spec.bffs.items()
    ]
    groups.append({"name": "tailor-slo-alerts", "rules": [alert_rule(a) for a in ALERTS]})
    return {"groups": groups}


def admin_targets(spec: SloSpec, bffs: dict[str, BFF]) -> dict[str, str]:
    """Each BFF's admin ``host:port`` (from its profile), by its job name."""
    targets = {}
    for name, objectives in spec.bffs.items():
        admin = bffs[name].config.admin
        if not admin.enabled or not admin.port:
            raise ConfigError(f"bffs.{name}.app", "its profile sets no admin port to scrape")
        targets[objectives.job or name] = f"{admin.host}:{admin.port}"
    return targets


def prometheus_config(spec: SloSpec, bffs: dict[str, BFF], rules: str) -> dict[str, Any]:
    """A Prometheus config scraping every BFF's admin port as its job, with the rules."""
    interval = f"{spec.alerting.scrape_interval_s}s"
    scrape = [
        {"job_name": job, "static_configs": [{"targets": [target]}]}
        for job, target in admin_targets(spec, bffs).items()
    ]
    return {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "rule_files": [rules],
        "alerting": {
            "alertmanagers": [{"static_configs": [{"targets": [spec.alerting.alertmanager]}]}]
        },
        "scrape_configs": scrape,
    }
