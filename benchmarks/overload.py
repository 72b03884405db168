"""The overload and soak scenarios (issue 19): what a BFF on one core does with more than it can
serve, and whether it holds steady for minutes at a sustainable rate.

``overload``: each stack's closed-loop peak on the home (wrk), on kept-alive connections and
with a new connection per request, then open-loop load (benchmarks/peers/openloop.c) at
``OVERLOAD_FACTOR`` times the peak of the same kind, once on kept-alive connections and once
with a new connection per request. What counts: the 200s answered within
the home's deadline per second of offered load (the measured requests' count over the seconds
they were due in, not over the time to the last answer), as a fraction of the variant's own
closed-loop peak (target >= 0.8); 503s and other answers are not counted in it; the
503s' p99 (a shed answer must be fast, target < 50 ms); and the requests left without an answer
past twice the deadline (target 0).

Which peak each variant is read against (``target_of_peak``): the kept-alive variant against
the kept-alive peak; the per-request variant against the closed-loop peak with a new connection
per request (wrk with ``Connection: close``). That is the most the stack can serve when every
request brings its own connection: the accept, the kernel's side of the handshake and the close
are costs kept-alive traffic never pays, so no admission policy could answer the kept-alive
peak's rate that way, and reading it against that peak would count those costs as shedding's
failure. For the same reason each variant is offered twice its own peak (offering the
per-request variant twice the kept-alive peak was about 2.3x its own, a heavier overload than
the kept-alive variant's); ``of_peak`` (against the kept-alive peak) is kept for both as well.

How the peak is settled. Each round measures both peaks right before its open-loop runs and
offers twice that round's peak, but the figure the target reads divides each round's answers
within the deadline by the median of all the rounds' peaks of that variant
(``settled_peak_rps``), and reports the median of those rounds. A closed-loop run of a few
seconds is one sample of what the core can do: in session 13's calm run the per-request peak
moved 1,874-2,205 rps between rounds while the homes served within the deadline moved
1,383-1,540 and did not follow it, so reading each round against its own peak added the peak's
sampling noise to every round (74/75/68%, against 67/75/74% read against the median). The
median moves neither figure's centre (74% both ways there), only its spread; tailor and Node
are read the same way. The peak is wrk's closed loop at a fixed 64 connections, not the rate
at some fixed latency: at 64 the contender's core is saturated (``peak_cpu_pct``, its own CPU
during the peak run, records it), so more connections add queueing, not answers, while a
latency bound would have to be chosen per stack and would measure a rate short of saturation,
not the most the stack can serve.

``soak``: tailor's full pipeline at ``SOAK_FACTOR`` of its peak for ``--soak-seconds``, in
segments of one generator run each, its resident set read after each: growth after the warm-up
segment (target < 5%) and 5xx answers (target 0).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prometheus_client.parser import text_string_to_metric_families

from benchmarks import contenders, openloop
from benchmarks.contenders import HOME_PATH, Contender

if TYPE_CHECKING:
    from benchmarks.run import Bench

#: The offered load, as a multiple of the stack's measured peak.
OVERLOAD_FACTOR = 2.0
#: The mobile home's deadline (waveform.bffs.mobile: ``deadline_s=1.0``).
DEADLINE_MS = 1000.0
#: Connections the generator may hold open at once: enough that it is not the one refusing
#: (a request waits in the generator, its latency growing, only when all are busy).
OVERLOAD_CONNECTIONS = 2048
#: (variant key, label, a new connection per request)
VARIANTS = (
    ("keepalive", "kept-alive connections", False),
    ("per-request", "a new connection per request", True),
)
#: The soak's rate, as a fraction of the peak.
SOAK_FACTOR = 0.7
#: The soak runs in segments of this many seconds (``--soak-segment-seconds``), the resident
#: set read after each.
SOAK_SEGMENT_S = 60.0


def _good_rate(r: dict[str, Any], seconds: float) -> float:
    """The 200s answered within the deadline per second of the offered load: the measured
    requests are due over ``seconds``. (The generator's own ``ok_within_deadline_rps`` divides by
    the time to its last answer, which adds the drain after the last due time, and a single
    answer that came late stretches it by up to twice the deadline.)"""
    return float(r["ok_within_deadline"]) / seconds if seconds > 0 else 0.0


def _groups(b: Bench, c: Contender) -> dict[str, int]:
    """The process groups whose CPU an overload run records: the contender's, and the fixture
    upstream's (on the load generator's core)."""
    groups = {"contender": b.procs.started[c.name].pid}
    if "nginx" in b.procs.started:
        groups["upstream"] = b.procs.started["nginx"].pid
    return groups


def _load_core(b: Bench, r: dict[str, Any]) -> str:
    """The load core's share of the run: busy in all, and the upstream's part of it."""
    busy = r.get("core_busy_pct", {}).get(f"cpu{b.load_cpu}", 0.0)
    return f"load core busy {busy:.0f}% (upstream {r.get('upstream_cpu_pct', 0):.0f}%)"


def _peak(
    b: Bench, scenario: str, c: Contender, seconds: float, per_request: bool = False
) -> float:
    """``c``'s closed-loop peak on the home, 2xx answers a second: on kept-alive connections,
    or with a new connection per request (``per_request``: ``Connection: close``)."""
    return _peak_run(b, scenario, c, seconds, per_request)[0]


def _peak_run(
    b: Bench, scenario: str, c: Contender, seconds: float, per_request: bool = False
) -> tuple[float, float]:
    """:func:`_peak`, and the contender's own CPU during it (percent of one core)."""
    headers = ("Connection: close",) if per_request else ()
    w = b.wrk(c, seconds, b.load_cpu, measure=True, headers=headers)
    peak = w.rps * (1 - w.non_2xx / w.requests) if w.requests else 0.0
    how = "a new connection per request" if per_request else "kept-alive"
    b.say(f"{scenario}: {c.key} peak {peak:,.0f} rps closed loop, {how} "
        f"(own cpu {w.contender_cpu_pct:.0f}%)")  # fmt: skip
    return peak, w.contender_cpu_pct


def scenario_overload(b: Bench, upstream: str, work: Path) -> dict[str, Any]:
    a = b.args
    cpu = str(b.contender_cpu)
    cs = [contenders.tailor_full(upstream, work, cpu), contenders.node(upstream, cpu)]
    b.start("overload", cs, cpu)
    for c in cs:
        b.say(f"overload: warm-up {c.key} {a.warmup:g} s")
        b.wrk(c, a.warmup, b.load_cpu, measure=False)
    rounds: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for n in range(1, a.rounds + 1):
        for c in cs:
            peak, peak_cpu = _peak_run(b, "overload", c, a.duration)
            # What the stack serves at most when every request brings its own connection: the
            # per-request variant's answers are also read against it (the accept, the
            # handshake's kernel work and the close are a cost kept-alive traffic never pays).
            per_request_run = _peak_run(b, "overload", c, a.duration, per_request=True)
            for variant, _, per_request in VARIANTS:
                own_peak, own_cpu = per_request_run if per_request else (peak, peak_cpu)
                rate = max(20.0, round(OVERLOAD_FACTOR * own_peak))
                counts = why_counts(c.admin)
                r = openloop.run(c.url, rate=rate, seconds=a.overload_seconds,
                                 warmup=a.overload_warmup, token=b.token, cpu=b.load_cpu,
                                 pgids=_groups(b, c), connections=OVERLOAD_CONNECTIONS,
                                 connection_per_request=per_request,
                                 deadline_ms=DEADLINE_MS)  # fmt: skip
                r["why"] = why_delta(counts, why_counts(c.admin))  # warm-up included
                r["ok_within_deadline_rps"] = _good_rate(r, a.overload_seconds)
                r["peak_rps"] = peak
                r["of_peak"] = r["ok_within_deadline_rps"] / peak if peak else 0.0
                r["variant_peak_rps"] = own_peak
                r["peak_cpu_pct"] = own_cpu
                r["of_variant_peak"] = r["ok_within_deadline_rps"] / own_peak if own_peak else 0.0
                rounds.setdefault((c.key, variant), []).append(r)
                b.say(
                    f"overload: round {n}/{a.rounds} {c.key:<6} {variant:<11} "
                    f"{r['ok_within_deadline_rps']:>7,.0f} ok within {DEADLINE_MS:g} ms of "
                    f"{rate:,.0f} offered ({r['of_peak']:.0%} of peak, "
                    f"{r['of_variant_peak']:.0%} of its variant's)  "
                    f"shed {r['shed']} p99 {r['shed_p99_ms']:.1f} ms  "
                    f"late past 2x {r['late_2x']}  own cpu {r.get('contender_cpu_pct', 0):.0f}%"
                    f"  {_load_core(b, r)}"
                    + (f"  failures {r['failures']}" if r["failures"] else "")
                    + (f"  why {r['why']}" if r["why"] else "")
                )
    b.stop(cs)
    rows = []
    for c in cs:
        for variant, label, _ in VARIANTS:
            rs = rounds[(c.key, variant)]

            def med(field: str, rs: list[dict[str, Any]] = rs) -> float:
                return float(statistics.median(float(r[field]) for r in rs))

            settled = med("variant_peak_rps")  # the module doc says why the median
            for r in rs:
                r["settled_peak_rps"] = settled
                # What the >= 80% target reads, round by round.
                r["target_of_peak"] = r["ok_within_deadline_rps"] / settled if settled else 0.0

            rows.append({
                "key": c.key, "label": f"{c.label}, {label}", "note": c.note,
                "variant": variant, "peak_rps": med("peak_rps"), "rate": med("rate"),
                "ok_within_deadline_rps": med("ok_within_deadline_rps"), "of_peak": med("of_peak"),
                "variant_peak_rps": med("variant_peak_rps"),
                "of_variant_peak": med("of_variant_peak"),
                # The figure the ">= 80% of peak" target checks (see the module doc).
                "settled_peak_rps": settled, "target_of_peak": med("target_of_peak"),
                "peak_cpu_pct": med("peak_cpu_pct"),
                "ok_p99_ms": med("p99_ms"), "shed": med("shed"), "shed_p99_ms": med("shed_p99_ms"),
                "late_2x": sum(int(r["late_2x"]) for r in rs), "cpu_pct": med("contender_cpu_pct"),
                "rounds": rs,
            })  # fmt: skip
    return {
        "key": "overload",
        "title": f"Overload: {OVERLOAD_FACTOR:g}x peak, open loop",
        "kind": "overload",
        "cpu": cpu,
        "path": HOME_PATH,
        "factor": OVERLOAD_FACTOR,
        "deadline_ms": DEADLINE_MS,
        "seconds": a.overload_seconds,
        "contenders": rows,
    }


#: The admin series whose samples say why answers were 5xx: (family, label, key prefix).
_WHY_SERIES = (("tailor_shed_requests", "reason", "shed"), ("tailor_errors", "cause", "error"))


def why_counts(admin: int | None) -> dict[str, float]:
    """tailor's counts of shed requests by reason and of 5xx by cause, from its admin
    ``/metrics`` (``{"shed:overload": 12, "error:upstream_timeout": 3, ...}``); empty
    without an admin listener."""
    if admin is None:
        return {}
    with urllib.request.urlopen(f"http://127.0.0.1:{admin}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    counts: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for name, label, prefix in _WHY_SERIES:
            if family.name != name:
                continue
            for sample in family.samples:
                if sample.name.endswith("_total"):
                    key = f"{prefix}:{sample.labels[label]}"
                    counts[key] = counts.get(key, 0.0) + sample.value
    return counts


def why_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, int]:
    """What the counts grew by between two readings (those that grew only)."""
    grown = {k: int(v - before.get(k, 0.0)) for k, v in after.items()}
    return {k: n for k, n in sorted(grown.items()) if n > 0}


def _five_xx(r: dict[str, Any]) -> int:
    return sum(int(n) for kind, n in r["failures"].items() if kind.startswith("5"))


def scenario_soak(b: Bench, upstream: str, work: Path) -> dict[str, Any]:
    a = b.args
    cpu = str(b.contender_cpu)
    c = contenders.tailor_full(upstream, work, cpu)
    b.start("soak", [c], cpu)
    b.say(f"soak: warm-up {c.key} {a.warmup:g} s")
    b.wrk(c, a.warmup, b.load_cpu, measure=False)
    peak = _peak(b, "soak", c, a.duration)
    rate = max(20.0, round(SOAK_FACTOR * peak))
    segment = min(a.soak_segment_seconds, a.soak_seconds)
    count = max(1, round(a.soak_seconds / segment))
    pgid = b.procs.started[c.name].pid

    def rss_mb() -> float:
        return round(sum(b.procs.rss_kb(c.name).values()) / 1024, 1)

    # The first segment is the warm-up: caches, pools and the allocator's arenas fill in it.
    segments: list[dict[str, Any]] = []
    counts = why_counts(c.admin)
    for n in range(count + 1):
        r = openloop.run(c.url, rate=rate, seconds=segment, token=b.token, cpu=b.load_cpu,
                         pgids={"contender": pgid}, deadline_ms=DEADLINE_MS)  # fmt: skip
        r["rss_mb"] = rss_mb()
        r["five_xx"] = _five_xx(r)
        # Why the 5xx were answered (shed reasons, error causes), as the BFF counted them.
        now = why_counts(c.admin)
        r["why"], counts = why_delta(counts, now), now
        segments.append(r)
        b.say(f"soak: {'warm-up' if n == 0 else f'segment {n}/{count}'} {r['rps']:,.0f} of "
            f"{rate:,.0f} rps  p99 {r['p99_ms']:.1f} ms  RSS {r['rss_mb']:g} MB  "
            f"5xx {r['five_xx']}  errors {r['errors']}"
            + (f"  why {r['why']}" if r["why"] else ""))  # fmt: skip
    b.stop([c])
    measured = segments[1:]
    base, end = segments[0]["rss_mb"], measured[-1]["rss_mb"]
    return {
        "key": "soak",
        "title": f"Soak: {SOAK_FACTOR:.0%} of peak for {count * segment:g} s",
        "kind": "soak",
        "cpu": cpu,
        "path": HOME_PATH,
        "contenders": [
            {
                "key": c.key,
                "label": c.label,
                "note": c.note,
                "peak_rps": peak,
                "rate": rate,
                "seconds": count * segment,
                "rss_after_warmup_mb": base,
                "rss_end_mb": end,
                "rss_max_mb": max(r["rss_mb"] for r in measured),
                "rss_growth_pct": 100.0 * (end - base) / base if base else 0.0,
                "five_xx": sum(r["five_xx"] for r in measured),
                "failed": sum(int(r["errors"]) for r in measured),
                "p99_ms": max(r["p99_ms"] for r in measured),
                "cpu_pct": statistics.median(r["contender_cpu_pct"] for r in measured),
                "segments": segments,
            }
        ],
    }


# -- python -m benchmarks.overload: tailor alone, one tree against another ---------------------


def _args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.overload",
        description="The overload scenario for tailor alone, short, and optionally one source "
        "tree against another, interleaved in one run (A B, B A, ...): each tree's closed-loop "
        "peaks, then open-loop load at the same rate for every tree (2x the trees' mean peak of "
        "the variant's kind, or --rate). Leaves docs/ and benchmarks/results/ alone.\n\n"
        "  python -m benchmarks.overload --tree before=/work/main --rounds 3",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--tree",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="another checkout to run beside this one (its src/ and platform/src/ first on "
        "PYTHONPATH); repeatable. This tree runs as 'this'.",
    )
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds (2)")
    parser.add_argument("--seconds", type=float, default=5.0, help="each open-loop run (5)")
    parser.add_argument("--peak-seconds", type=float, default=5.0, help="each wrk peak run (5)")
    parser.add_argument("--warmup", type=float, default=5.0, help="wrk warm-up per tree (5)")
    parser.add_argument(
        "--variants",
        default=",".join(v for v, _, _ in VARIANTS),
        help="comma-separated subset of " + ",".join(v for v, _, _ in VARIANTS),
    )
    parser.add_argument("--rate", type=float, help="offered rps (default: 2x the mean peak)")
    parser.add_argument("--connections", type=int, default=64, help="wrk -c for the peaks (64)")
    args = parser.parse_args(argv)
    args.overload_seconds = args.seconds
    args.overload_warmup = 2.0
    args.duration = args.peak_seconds
    return args


@contextlib.contextmanager
def _pythonpath(tree: Path | None) -> Iterator[None]:
    """While a contender starts: ``tree``'s sources first (None: this tree's, as inherited)."""
    saved = os.environ.get("PYTHONPATH")
    if tree is not None:
        os.environ["PYTHONPATH"] = f"{tree / 'src'}:{tree / 'platform' / 'src'}"
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = saved


def main(argv: list[str] | None = None) -> int:
    from benchmarks import fixture, tools
    from benchmarks.procs import Processes
    from benchmarks.run import LOAD_CPU, Bench, say

    a = _args(argv)
    trees: dict[str, Path | None] = {"this": None}
    for spec in a.tree:
        name, _, path = spec.partition("=")
        trees[name] = Path(path).resolve()
    variants = [v for v in VARIANTS if v[0] in a.variants.split(",")]
    say(f"load average before: {tools.load_average()}")
    with (
        tempfile.TemporaryDirectory(prefix="tailor-overload-") as tmp,
        Processes(Path(tmp)) as procs,
    ):
        work = Path(tmp)
        work.chmod(0o755)
        fx = fixture.record(work / "fixture")
        upstream = fixture.serve(fx, procs, LOAD_CPU)
        b = Bench(a, procs, fx)
        cpu = str(b.contender_cpu)
        cs = []
        for name, tree in trees.items():
            c = contenders.tailor_full(upstream, work, cpu)
            c.key = name
            with _pythonpath(tree):
                b.start("overload", [c], cpu)
            cs.append(c)
        for c in cs:
            b.wrk(c, a.warmup, b.load_cpu, measure=False)
        peaks = {
            c.key: (_peak(b, "overload", c, a.duration), _peak(b, "overload", c, a.duration, True))
            for c in cs
        }
        # Each variant twice its own peak (the module doc says why), the trees' mean of it.
        rates = {
            per_request: a.rate
            or round(OVERLOAD_FACTOR * statistics.mean(p[int(per_request)] for p in peaks.values()))
            for _, _, per_request in variants
        }
        rows: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for n in range(1, a.rounds + 1):
            for variant, _, per_request in variants:
                # The trees take turns going first (A B, then B A): a run leaves the machine
                # not quite as it found it (a run with a new connection per request leaves
                # tens of thousands of connections in TIME_WAIT), and in one order the same
                # tree always came right after it.
                for c in cs if n % 2 else cs[::-1]:
                    counts = why_counts(c.admin)
                    rate = rates[per_request]
                    r = openloop.run(c.url, rate=rate, seconds=a.seconds, warmup=a.overload_warmup,
                                     token=b.token, cpu=b.load_cpu, pgids=_groups(b, c),
                                     connections=OVERLOAD_CONNECTIONS,
                                     connection_per_request=per_request,
                                     deadline_ms=DEADLINE_MS)  # fmt: skip
                    r["why"] = why_delta(counts, why_counts(c.admin))
                    r["ok_within_deadline_rps"] = _good_rate(r, a.seconds)
                    own = peaks[c.key][1 if per_request else 0]
                    r["of_variant_peak"] = r["ok_within_deadline_rps"] / own if own else 0.0
                    rows.setdefault((c.key, variant), []).append(r)
                    say(f"round {n}/{a.rounds} {c.key:<8} {variant:<11} "
                        f"{r['ok_within_deadline_rps']:>7,.0f} ok in {DEADLINE_MS:g} ms of "
                        f"{rate:,.0f} ({r['of_variant_peak']:.0%} of its variant's peak)  "
                        f"shed {r['shed']} p50 {r['shed_p50_ms']:.1f} p99 {r['shed_p99_ms']:.1f} "
                        f"ms  ok p99 {r['p99_ms']:.0f} ms  late 2x {r['late_2x']}  "
                        f"send lag p99 {r['send_lag_p99_ms']:.1f} ms  "
                        f"cpu {r.get('contender_cpu_pct', 0):.0f}%  {_load_core(b, r)}  "
                        f"why {r['why']}"
                        + (f"  failures {r['failures']}" if r["failures"] else ""))  # fmt: skip
        say(f"load average after: {tools.load_average()}")
    offered = ", ".join(f"{r:,.0f}" for r in rates.values())
    print(f"\noffered {offered} rps; peaks (kept-alive, new connection per request): "
          + ", ".join(f"{k} {p[0]:,.0f} / {p[1]:,.0f}" for k, p in peaks.items()))  # fmt: skip
    # The trees were offered the same rate: their answers a second compare directly, while each
    # tree's own peak is one closed-loop sample (see the module doc on settling the peak).
    print("tree     variant      ok/s (median)  ok/variant peak (median)  shed p99 ms (median)  "
          "late 2x")  # fmt: skip
    for (key, variant), rs in rows.items():
        ok = statistics.median(r["ok_within_deadline_rps"] for r in rs)
        of = statistics.median(r["of_variant_peak"] for r in rs)
        p99 = statistics.median(r["shed_p99_ms"] for r in rs)
        late = sum(int(r["late_2x"]) for r in rs)
        print(f"{key:<8} {variant:<12} {ok:>13,.0f}  {of:>24.0%}  {p99:>20.1f}  {late:>7}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
