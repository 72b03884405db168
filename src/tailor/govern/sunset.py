"""``python -m tailor.govern sunset-check``: may this deprecated route be switched off yet?

It reads the calls per route and client (``tailor_client_requests_total``) and the route's
deprecation (its dates and ``max_share_at_sunset``) from the BFF's admin ``/metrics``, one
URL per worker (each counts its own requests), prints the calls per client version over the
window, and refuses the sunset date while the route's share of all the BFF's calls is above
the threshold its deprecation configures::

    python -m tailor.govern sunset-check --route /v1/home \\
        --metrics http://127.0.0.1:8181/metrics --window 3600 [--sunset 2027-06-30]

``--window S`` counts what arrived during the next S seconds (two scrapes, S apart);
``--window 0`` counts since each worker started. ``--sunset`` checks a proposed date (by
default the configured one). Exit status: 0 allowed, 1 refused, 2 the check could not be
made (an unreachable endpoint, a route that is not deprecated, a sunset before the
deprecation date).
"""

from __future__ import annotations

import argparse
import datetime
import time
import urllib.request
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families

from tailor.clients.usage import DEPRECATED, MAX_SHARE, REQUESTS, SUNSET
from tailor.govern.command import Command

#: (route, app, platform, version)
Key = tuple[str, str, str, str]


@dataclass
class Scrape:
    """What the metrics endpoints said, summed over workers."""

    calls: dict[Key, float] = field(default_factory=lambda: defaultdict(float))
    deprecated: dict[str, float] = field(default_factory=dict)
    sunset: dict[str, float] = field(default_factory=dict)
    max_share: dict[str, float] = field(default_factory=dict)

    def add(self, text: str) -> None:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                labels = sample.labels
                if sample.name == f"{REQUESTS}_total":
                    key = (labels["route"], labels["app"], labels["platform"], labels["version"])
                    self.calls[key] += sample.value
                elif sample.name == DEPRECATED:
                    self.deprecated[labels["route"]] = sample.value
                elif sample.name == SUNSET:
                    self.sunset[labels["route"]] = sample.value
                elif sample.name == MAX_SHARE:
                    self.max_share[labels["route"]] = sample.value

    def since(self, before: Scrape) -> Scrape:
        """The calls made between ``before`` and this scrape (a worker restarted in between
        counts from zero: never below it)."""
        delta = Scrape(deprecated=self.deprecated, sunset=self.sunset, max_share=self.max_share)
        for key, value in self.calls.items():
            delta.calls[key] = max(0.0, value - before.calls.get(key, 0.0))
        return delta


@dataclass
class Verdict:
    allowed: bool
    lines: list[str]


def check(usage: Scrape, route: str, sunset: datetime.date | None) -> Verdict:
    """The report on ``route``, and whether ``sunset`` (default: the configured one) may
    stand. Raises LookupError when the route is not deprecated, ValueError for a sunset
    before its deprecation date."""
    if route not in usage.deprecated:
        raise LookupError(f"{route} is not deprecated (no clients.deprecations entry)")
    deprecated = datetime.datetime.fromtimestamp(usage.deprecated[route], datetime.UTC).date()
    if sunset is None and route in usage.sunset:
        sunset = datetime.datetime.fromtimestamp(usage.sunset[route], datetime.UTC).date()
    if sunset is not None and sunset < deprecated:
        raise ValueError(f"a sunset ({sunset}) must not be before the deprecation ({deprecated})")
    total = sum(usage.calls.values())
    mine = {k: v for k, v in usage.calls.items() if k[0] == route and v > 0}
    calls = sum(mine.values())
    share = calls / total if total else 0.0
    threshold = usage.max_share.get(route, 0.0)
    lines = [f"{route}: deprecated since {deprecated}, sunset {sunset or 'not set'}"]
    lines.append(f"  {'app':<16} {'platform':<10} {'version':<12} {'calls':>10} {'of route':>9}")
    for (_, app, platform, version), n in sorted(mine.items(), key=lambda kv: (-kv[1], kv[0])):
        lines.append(f"  {app:<16} {platform:<10} {version:<12} {n:>10.0f} {n / calls:>9.1%}")
    lines.append(
        f"  {calls:.0f} of the BFF's {total:.0f} calls ({share:.2%}); "
        f"a sunset needs at most {threshold:.2%}"
    )
    if sunset is None:
        lines.append("no sunset date to check: pass --sunset YYYY-MM-DD")
        return Verdict(share <= threshold, lines)
    if share > threshold:
        lines.append(f"REFUSED: sunset {sunset} while {route} still has {share:.2%} of calls")
        return Verdict(False, lines)
    lines.append(f"allowed: sunset {sunset}")
    return Verdict(True, lines)


def fetch(url: str, timeout_s: float = 5.0) -> str:
    with urllib.request.urlopen(url, timeout=timeout_s) as answer:
        text: str = answer.read().decode()
    return text


def scrape(urls: Sequence[str], get: Callable[[str], str] = fetch) -> Scrape:
    usage = Scrape()
    for url in urls:
        usage.add(get(url))
    return usage


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.description = __doc__
    parser.add_argument("--route", required=True, help="the route template, e.g. /v1/home")
    parser.add_argument(
        "--metrics", action="append", required=True, help="an admin /metrics URL (repeat)"
    )
    parser.add_argument("--window", type=float, default=0.0, help="seconds (0: since start)")
    parser.add_argument("--sunset", type=datetime.date.fromisoformat, default=None)


def _run(args: argparse.Namespace) -> int:
    try:
        usage = scrape(args.metrics)
        if args.window > 0:
            time.sleep(args.window)  # the window itself: what arrives during it is counted
            usage = scrape(args.metrics).since(usage)
        verdict = check(usage, args.route, args.sunset)
    except OSError as exc:
        print(f"sunset-check: cannot read the metrics: {exc}")
        return 2
    except (LookupError, ValueError) as exc:
        print(f"sunset-check: {exc}")
        return 2
    print("\n".join(verdict.lines))
    return 0 if verdict.allowed else 1


COMMAND = Command(
    "sunset-check",
    "calls per client version to a deprecated route; refuses a sunset while it is in use",
    _configure,
    _run,
)


def main(argv: list[str] | None = None) -> int:
    """``sunset-check`` on its own (as ``python -m tailor.govern sunset-check`` runs it)."""
    parser = argparse.ArgumentParser(prog="python -m tailor.govern sunset-check")
    _configure(parser)
    return _run(parser.parse_args(argv))
