"""What tracing and the access log cost a home, in CPU microseconds per home.

    python -m benchmarks.tracing                  # 5 interleaved rounds x 2000 homes each
    python -m benchmarks.tracing --rounds 3 --requests 1000
    python -m benchmarks.tracing --rounds 0 --instructions 100   # instruction counts only

The real mobile BFF (full profile, edge cache off) runs in this process against the fixture
nginx (the recorded six-call home fan-out over loopback), as in ``benchmarks.transports``, in
four variants built side by side and driven in interleaved rounds (A B C D, A B C D, ...):

- ``off``: no ``tracing`` table, access log off (what the other benchmarks measure);
- ``unsampled``: tracing on, ``sample_ratio = 0``: ids and ``traceparent`` on every call;
- ``sampled``: tracing on at 100%: a server span and six Part spans per home, encoded and
  POSTed by the exporter's job on the loop to a sink process (each round ends only when its
  spans are sent, inside the measured time);
- ``access_log``: tracing off, one JSON access line per home (written to /dev/null).

The figure is process CPU time per home (all threads), which other work on the machine
disturbs far less than wall time; medians across rounds, and against ``off`` the median of
each round's ratio to that round's ``off``. Then the same three tracing variants are counted
in instructions per home by callgrind (:mod:`benchmarks.instructions`, ``--instructions``
homes per counted run), a figure the machine's load moves far less, and the one the targets
are checked against on a shared machine.
It also times the OTLP encoding of a home's seven spans alone: tailor's encoder (a C module,
:mod:`tailor.trace.otlp`) against building opentelemetry-proto's messages (protobuf's upb) and
serializing them, the maintained alternative it was measured against.
``results/tracing.json`` keeps the last run; ``docs/benchmarks.md`` quotes it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import uvloop

from benchmarks import fixture
from benchmarks.instructions import per_request_of
from benchmarks.procs import Processes
from benchmarks.transports import drive, make
from tailor import BFF
from tailor.trace.export import SpanExporter
from tailor.trace.otlp import OtlpEncoder
from tailor.trace.span import AnySpan, PartSpan, ServerSpan

RESULTS = Path(__file__).resolve().parent / "results" / "tracing.json"
UPSTREAM_CPU = 1
VARIANTS = ("off", "unsampled", "sampled", "access_log")
#: The variants counted by callgrind: the tracing targets' three.
COUNTED = ("off", "unsampled", "sampled")


def _config(variant: str, sink: str) -> dict[str, Any]:
    logs = {"logs": {"access": variant == "access_log"}}
    if variant == "unsampled":
        return {**logs, "tracing": {"endpoint": sink, "sample_ratio": 0.0}}
    if variant == "sampled":
        return {**logs, "tracing": {"endpoint": sink, "sample_ratio": 1.0}}
    return logs


def exporter_of(bff: BFF) -> SpanExporter | None:
    # The trace stage hands its exporter's job to the BFF's background list: the one handle on
    # it from outside (a benchmark must flush it inside the measured time).
    ctx = bff._ctx
    jobs = ctx.background if ctx is not None else []
    found = [getattr(job, "__self__", None) for job in jobs]
    return next((e for e in found if isinstance(e, SpanExporter)), None)


async def measure_variants(
    upstream: str, token: str, sink: str, args: argparse.Namespace
) -> dict[str, Any]:
    bffs = {v: make(upstream, "http1", config=_config(v, sink)) for v in VARIANTS}
    cpu: dict[str, list[float]] = {v: [] for v in VARIANTS}
    try:
        for bff in bffs.values():
            await drive(bff, token, 300, 1)  # warm: JWKS, tokens, pools
        for n in range(1, args.rounds + 1):
            for variant, bff in bffs.items():
                exporter = exporter_of(bff)
                started = time.process_time()
                await drive(bff, token, args.requests, 1)
                if exporter is not None:
                    await exporter.flush()
                cpu[variant].append((time.process_time() - started) / args.requests * 1e6)
            print(
                f"round {n}: " + "  ".join(f"{v} {cpu[v][-1]:.0f} us" for v in VARIANTS), flush=True
            )
    finally:
        for bff in bffs.values():
            await bff.shutdown()
    medians = {v: statistics.median(cpu[v]) for v in VARIANTS}
    # Each round's ratio to that round's off, then their median: a burst of other work on the
    # machine moves a round's variants together, and one variant's bad round alone less.
    ratios = {v: [c / off - 1 for c, off in zip(cpu[v], cpu["off"], strict=True)] for v in cpu}
    return {
        "cpu_us_per_home": {v: round(m, 1) for v, m in medians.items()},
        "vs_off": {v: round(statistics.median(r), 4) for v, r in ratios.items()},
    }


def measure_instructions(upstream: str, token: str, sink: str, requests: int) -> dict[str, Any]:
    """Instructions per home of the tracing variants, and their ratios to ``off``."""
    counts: dict[str, float] = {}
    for variant in COUNTED:
        config = _config(variant, sink)
        if "tracing" in config:
            # Batches go when full, as under load, not once a second of valgrind's slow clock;
            # the counted child flushes the exporter before it stops, so every span is counted.
            config["tracing"]["export_interval_s"] = 60
        started = time.monotonic()
        counts[variant] = per_request_of("home", requests, upstream, token, config=config)
        took = time.monotonic() - started
        print(f"{variant:<10} {counts[variant]:12,.0f} instructions per home ({took:.0f} s)")
    return {
        "instructions_per_home": {v: round(c) for v, c in counts.items()},
        "instructions_vs_off": {v: round(c / counts["off"] - 1, 4) for v, c in counts.items()},
    }


PARTS = ("me", "stream", "recs", "playlists", "people", "tracks")


def _home_spans(n: int) -> list[AnySpan]:
    """A home's seven spans as the stages record them (ids unique per home)."""
    trace, server = f"{n:032x}", f"{n:016x}"
    spans: list[AnySpan] = []
    for k, name in enumerate(PARTS):
        part = PartSpan(trace, f"{n:08x}{k:08x}", server, name, "svc", 1, end_ns=2)
        part.deadline_ms, part.attempts, part.breaker, part.status = 800, 1, "closed", 200
        spans.append(part)
    spans.append(ServerSpan(trace, server, "", 1, end_ns=2, method="GET", route="/v1/home",
                            status=200))  # fmt: skip
    return spans


def measure_encoding(homes: int) -> dict[str, float]:
    """CPU microseconds to encode one home's seven spans: tailor's encoder, then the same
    spans built as opentelemetry-proto messages and serialized."""
    batches = [_home_spans(n) for n in range(homes)]
    encoder = OtlpEncoder("mobile")
    started = time.process_time()
    for spans in batches:
        encoder.encode(spans)
    own = (time.process_time() - started) / homes * 1e6
    proto = _proto_encoding(batches)
    return {"tailor_us_per_home": round(own, 2), "opentelemetry_proto_us_per_home": round(proto, 2)}


def _proto_encoding(batches: list[list[AnySpan]]) -> float:
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as service
    from opentelemetry.proto.common.v1 import common_pb2 as common
    from opentelemetry.proto.resource.v1 import resource_pb2 as resource
    from opentelemetry.proto.trace.v1 import trace_pb2 as trace

    def value(v: Any) -> common.AnyValue:
        if isinstance(v, str):
            return common.AnyValue(string_value=v)
        if isinstance(v, bool):
            return common.AnyValue(bool_value=v)
        return common.AnyValue(int_value=v)

    started = time.process_time()
    for spans in batches:
        service.ExportTraceServiceRequest(resource_spans=[trace.ResourceSpans(
            resource=resource.Resource(attributes=[
                common.KeyValue(key="service.name", value=value("mobile"))]),
            scope_spans=[trace.ScopeSpans(spans=[trace.Span(
                trace_id=bytes.fromhex(s.trace_id), span_id=bytes.fromhex(s.span_id),
                parent_span_id=bytes.fromhex(s.parent_id), name=s.name, kind=s.kind,
                start_time_unix_nano=s.start_ns, end_time_unix_nano=s.end_ns,
                attributes=[common.KeyValue(key=k, value=value(v))
                            for k, v in s.attributes.items()],
            ) for s in spans])],
        )]).SerializeToString()  # fmt: skip
    return (time.process_time() - started) / len(batches) * 1e6


def _wait_listening(port: int, within_s: float = 60.0) -> None:
    deadline = time.monotonic() + within_s
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)  # the sink process is starting: nothing to wait on but its port


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.tracing", description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument(
        "--instructions",
        type=int,
        default=100,
        metavar="HOMES",
        help="homes per callgrind run for the instruction counts (0: not counted)",
    )
    parser.add_argument("--no-write", action="store_true", help="leave results/ untouched")
    args = parser.parse_args(argv)
    encoding = measure_encoding(2000)
    own, proto = encoding["tailor_us_per_home"], encoding["opentelemetry_proto_us_per_home"]
    print(f"encoding a home's 7 spans: tailor {own} us, opentelemetry-proto {proto} us")
    with (
        tempfile.TemporaryDirectory(prefix="tailor-tracing-") as tmp,
        Processes(Path(tmp)) as procs,
    ):
        work = Path(tmp)
        work.chmod(0o755)  # nginx workers run unprivileged and must reach the fixture files
        print("recording the mobile home fan-out from the real services", flush=True)
        fx = fixture.record(work / "fixture")
        upstream = fixture.serve(fx, procs, UPSTREAM_CPU)
        (port,) = fixture.free_ports(1)
        collector = subprocess.Popen([sys.executable, "-m", "benchmarks.otlp_sink", str(port)])
        try:
            _wait_listening(port)
            sink = f"http://127.0.0.1:{port}/v1/traces"
            result: dict[str, Any] = {}
            if args.rounds:
                # The access lines are built and written as by default (to stderr), to nowhere.
                with open(os.devnull, "w") as nowhere, contextlib.redirect_stderr(nowhere):
                    result = uvloop.run(measure_variants(upstream, fx.token, sink, args))
            if args.instructions and shutil.which("valgrind") is None:
                print("no valgrind: instruction counts skipped (apt-get install -y valgrind)")
            elif args.instructions:
                result |= measure_instructions(upstream, fx.token, sink, args.instructions)
        finally:
            collector.terminate()
            collector.wait()
    result = {
        "measured": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "rounds": args.rounds,
        "requests": args.requests,
        "counted_homes": args.instructions,
        # Timed figures move with other work on the machine: say how busy it was.
        "load_average": round(os.getloadavg()[0], 1),
        **result,
        "encoding": encoding,
    }
    print(json.dumps(result, indent=2))
    if not args.no_write:
        RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
