"""The trace stage and the spans of a fan-out, over real HTTP: a BFF in-process calling a
scripted service on loopback, exporting to an OTLP receiver that decodes with
opentelemetry-proto."""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from collections.abc import Iterator

import pytest
from harness import body_json, call

from otlp_receiver import OtlpReceiver, ReceivedSpan
from tailor import ConfigError, Part, Plan, PlanResult, Request, Response, aggregate
from tailor.aggregate import AggregateBody
from tailor.cache.policy import CachePolicy
from tailor.trace.context import parse_traceparent

CALLER_SPAN = "00f067aa0ba902b7"
PLAN = Plan(
    (
        Part("me", "svc", "/me", into=dict),
        Part("recs", "svc", "/recs", into=dict, required=False),
        Part("feed", "svc", "/feed", into=dict, needs=("me",)),
    ),
    deadline_s=2.0,
)


class Echo(AggregateBody, kw_only=True):
    parts: int = 0


def _shape(outcome: PlanResult) -> Echo:
    return Echo(parts=len(outcome.values))


@pytest.fixture(scope="module")
def receiver() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as r:
        yield r


def _bff(make_bff, upstream, endpoint: str, **tracing: object):
    bff = make_bff(
        {
            "upstreams": {"svc": upstream.url},
            "tracing": {
                "endpoint": endpoint,
                "export_interval_s": 0.05,
                "sample_ratio": 1.0,
                **tracing,
            },
        }
    )

    @bff.get("/home", auth=False, plan=PLAN)
    async def home(request: Request) -> Response:
        return await aggregate(request, _shape)

    return bff


def _script(upstream, recs_status: int = 200) -> None:
    for path in ("/me", "/feed"):
        upstream.script("GET", path, json={})
    upstream.script("GET", "/recs", json={}, status=recs_status)


def _caller(trace: str, sampled: bool = True) -> dict[str, str]:
    return {"traceparent": f"00-{trace}-{CALLER_SPAN}-{'01' if sampled else '00'}"}


async def _spans_of(receiver: OtlpReceiver, trace_id: str, count: int) -> list[ReceivedSpan]:
    # Waited for on a thread: the BFF exports from this loop, which must keep running.
    await asyncio.to_thread(
        receiver.wait_for, lambda spans: sum(s.trace_id == trace_id for s in spans) >= count
    )
    return receiver.trace(trace_id)


async def test_a_request_is_a_server_span_with_a_client_span_per_part(
    make_bff, upstream, receiver
) -> None:
    _script(upstream)
    trace = uuid.uuid4().hex
    bff = _bff(make_bff, upstream, receiver.endpoint)
    response = await call(bff, "GET", "/home", headers=_caller(trace))
    assert response.status == 200
    spans = await _spans_of(receiver, trace, 4)
    [server] = [s for s in spans if s.kind == 2]
    assert server.parent_id == CALLER_SPAN and server.name == "GET /home"
    assert server.attributes["http.route"] == "/home"
    assert server.attributes["http.response.status_code"] == 200
    parts = {s.name: s for s in spans if s.kind == 3}
    assert set(parts) == {"me", "recs", "feed"}
    for part in parts.values():
        assert part.parent_id == server.span_id and part.service == "test"
        assert part.attributes["peer.service"] == "svc"
        assert part.attributes["bff.attempts"] == 1
        assert part.attributes["bff.breaker"] == "closed"
        assert 0 < part.attributes["bff.deadline_ms"] <= 2000
        assert server.start_ns <= part.start_ns <= part.end_ns <= server.end_ns


async def test_every_inward_call_names_its_parts_span_as_the_parent(
    make_bff, upstream, receiver
) -> None:
    _script(upstream)
    trace = uuid.uuid4().hex
    bff = _bff(make_bff, upstream, receiver.endpoint)
    await call(bff, "GET", "/home", headers=_caller(trace))
    spans = await _spans_of(receiver, trace, 4)
    by_name = {s.name: s.span_id for s in spans}
    for path, part in (("/me", "me"), ("/recs", "recs"), ("/feed", "feed")):
        sent = parse_traceparent(upstream.received(path)[-1].headers["traceparent"])
        assert sent == (trace, by_name[part], True)


async def test_a_tracestate_travels_inward_unchanged(make_bff, upstream, receiver) -> None:
    _script(upstream)
    bff = _bff(make_bff, upstream, receiver.endpoint)
    headers = {**_caller(uuid.uuid4().hex), "tracestate": "vendor=abc"}
    await call(bff, "GET", "/home", headers=headers)
    assert upstream.received("/me")[-1].headers["tracestate"] == "vendor=abc"


@pytest.mark.parametrize(
    "bad", ["nonsense", f"00-{'A' * 32}-{CALLER_SPAN}-01", f"00-{'0' * 32}-{CALLER_SPAN}-01"]
)
async def test_an_invalid_traceparent_starts_a_new_trace_and_the_request_succeeds(
    make_bff, upstream, receiver, bad: str
) -> None:
    _script(upstream)
    bff = _bff(make_bff, upstream, receiver.endpoint)
    response = await call(bff, "GET", "/home", headers={"traceparent": bad})
    assert response.status == 200
    sent = parse_traceparent(upstream.received("/me")[-1].headers["traceparent"])
    assert sent is not None and sent.trace_id not in bad.lower()
    [server] = [s for s in await _spans_of(receiver, sent.trace_id, 4) if s.kind == 2]
    assert server.parent_id == ""  # a root: nothing of the bad header was kept


async def test_an_unsampled_caller_is_not_recorded_and_the_services_are_told(
    make_bff, upstream, receiver
) -> None:
    _script(upstream)
    bff = _bff(make_bff, upstream, receiver.endpoint)
    unsampled = uuid.uuid4().hex
    await call(bff, "GET", "/home", headers=_caller(unsampled, sampled=False))
    sent = {upstream.received(p)[-1].headers["traceparent"] for p in ("/me", "/recs", "/feed")}
    assert len(sent) == 1 and parse_traceparent(sent.pop()) == (unsampled, CALLER_SPAN, False)
    # A sampled request after it is exported; the unsampled one never was.
    trace = uuid.uuid4().hex
    await call(bff, "GET", "/home", headers=_caller(trace))
    await _spans_of(receiver, trace, 4)
    assert receiver.trace(unsampled) == []


async def test_a_new_unsampled_trace_gives_every_call_the_same_unsampled_parent(
    make_bff, upstream, receiver
) -> None:
    _script(upstream)
    bff = _bff(make_bff, upstream, receiver.endpoint, sample_ratio=0.0)
    await call(bff, "GET", "/home")
    sent = {upstream.received(p)[-1].headers["traceparent"] for p in ("/me", "/recs", "/feed")}
    assert len(sent) == 1
    parent = parse_traceparent(sent.pop())
    assert parent is not None and not parent.sampled


@pytest.mark.parametrize("sampled", [False, True])
async def test_a_part_s_own_headers_travel_with_the_trace_s(
    make_bff, upstream, receiver, sampled: bool
) -> None:
    upstream.script("GET", "/tagged", json={})
    bff = _bff(make_bff, upstream, receiver.endpoint)
    tagged = Part("tagged", "svc", "/tagged", into=dict, headers=lambda _: [("x-tag", "t1")])

    @bff.get("/tagged", auth=False, plan=Plan((tagged,), deadline_s=2.0))
    async def route(request: Request) -> Response:
        return await aggregate(request, _shape)

    trace = uuid.uuid4().hex
    await call(bff, "GET", "/tagged", headers=_caller(trace, sampled))
    headers = upstream.received("/tagged")[-1].headers
    sent = parse_traceparent(headers["traceparent"])
    assert headers["x-tag"] == "t1" and sent is not None and sent[::2] == (trace, sampled)


async def test_a_degraded_part_is_a_failed_span_and_the_server_span_lists_it(
    make_bff, upstream, receiver
) -> None:
    _script(upstream, recs_status=500)
    bff = _bff(make_bff, upstream, receiver.endpoint)
    trace = uuid.uuid4().hex
    response = await call(
        bff, "GET", "/home", headers={"traceparent": f"00-{trace}-{CALLER_SPAN}-01"}
    )
    assert body_json(response)["degraded"] == [{"part": "recs", "reason": "status"}]
    spans = {s.name: s for s in await _spans_of(receiver, trace, 4)}
    assert spans["recs"].error == "status"
    assert spans["recs"].attributes["http.response.status_code"] == 500
    assert spans["me"].error is None
    assert spans["GET /home"].attributes["bff.degraded"] == "recs"


async def test_the_server_span_says_what_the_edge_cache_answered(
    make_bff, upstream, receiver
) -> None:
    _script(upstream)
    bff = make_bff(
        {
            "upstreams": {"svc": upstream.url},
            "tracing": {"endpoint": receiver.endpoint, "export_interval_s": 0.05},
            "cache": {"enabled": True, "backend": "memory"},
        }
    )

    @bff.get("/home", auth=False, plan=PLAN, cache=CachePolicy(scope="public", ttl_s=60))
    async def home(request: Request) -> Response:
        return await aggregate(request, _shape)

    answers = []
    for trace in (uuid.uuid4().hex, uuid.uuid4().hex):
        response = await call(bff, "GET", "/home", headers=_caller(trace))
        [server] = [s for s in await _spans_of(receiver, trace, 1) if s.kind == 2]
        answers.append((response.header("x-cache"), server.attributes.get("bff.cache")))
    assert answers == [("miss", "miss"), ("hit", "hit")]


async def test_a_retried_part_says_how_many_attempts_it_took(make_bff, upstream, receiver) -> None:
    _script(upstream)
    statuses = iter([503, 200])
    upstream.script(
        "GET", "/recs", lambda _: __import__("upstreams").Script(status=next(statuses), json={})
    )
    bff = _bff(make_bff, upstream, receiver.endpoint)
    trace = uuid.uuid4().hex
    await call(bff, "GET", "/home", headers={"traceparent": f"00-{trace}-{CALLER_SPAN}-01"})
    spans = {s.name: s for s in await _spans_of(receiver, trace, 4)}
    assert spans["recs"].attributes["bff.attempts"] == 2 and spans["recs"].error is None


async def test_an_unreachable_collector_never_slows_or_fails_a_request(make_bff, upstream) -> None:
    _script(upstream)
    with socket.socket() as silent:  # takes connections, never answers: the worst collector
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        endpoint = f"http://127.0.0.1:{silent.getsockname()[1]}/v1/traces"
        bff = _bff(make_bff, upstream, endpoint, queue_size=8, batch_size=1, export_timeout_s=30)
        await call(bff, "GET", "/home")  # warm up: the chain, the client's connections
        started = time.perf_counter()
        statuses = [(await call(bff, "GET", "/home")).status for _ in range(40)]
        elapsed = time.perf_counter() - started
    assert statuses == [200] * 40
    assert elapsed < 5  # 40 homes on loopback; the export alone would hold one for 30 s
    dropped = bff.metrics.registry.get_sample_value(
        "tailor_trace_spans_dropped_total", {"reason": "queue_full"}
    )
    assert dropped is not None and dropped >= 40 * 4 - 8 - 4


@pytest.mark.parametrize(
    ("tracing", "key"),
    [
        ({"endpoint": "collector:4318"}, "tracing.endpoint"),
        (
            {"endpoint": "http://127.0.0.1:4318/v1/traces", "sample_ratio": 1.5},
            "tracing.sample_ratio",
        ),
        ({"endpoint": "http://127.0.0.1:4318/v1/traces", "queue_size": 0}, "tracing.queue_size"),
        ({"endpoint": "http://127.0.0.1:4318", "ratio": 1}, "tracing.ratio"),
    ],
)
def test_bad_tracing_config_stops_startup_naming_the_key(make_bff, tracing, key) -> None:
    with pytest.raises(ConfigError) as info:
        make_bff({"tracing": tracing})
    assert info.value.key == key


def test_without_an_endpoint_the_trace_stage_is_not_in_the_chain(make_bff) -> None:
    bff = make_bff()
    bff.startup(admin=False)
    assert "TraceStage" not in bff.stages


async def test_a_direct_call_carries_the_requests_trace(make_bff, upstream, receiver) -> None:
    upstream.script("POST", "/login", json={})
    bff = make_bff({"upstreams": {"svc": upstream.url}, "tracing": {"endpoint": receiver.endpoint}})

    @bff.post("/login", auth=False)
    async def login(request: Request) -> Response:
        assert request.upstreams is not None
        await request.upstreams.request("svc", "/login", method="POST", trace=request.trace)
        return Response(204)

    trace = uuid.uuid4().hex
    await call(bff, "POST", "/login", headers=_caller(trace))
    sent = parse_traceparent(upstream.received("/login")[-1].headers["traceparent"])
    [server] = [s for s in await _spans_of(receiver, trace, 1) if s.kind == 2]
    assert sent == (trace, server.span_id, True)


async def test_the_server_span_of_a_request_a_stage_fails_ends_with_its_5xx(
    make_bff, upstream, receiver
) -> None:
    bff = _bff(make_bff, upstream, receiver.endpoint)

    @bff.get("/broken", auth=False)
    async def broken(request: Request) -> Response:
        raise RuntimeError("a bug below the error stage")

    trace = uuid.uuid4().hex
    response = await call(bff, "GET", "/broken", headers=_caller(trace))
    assert response.status == 500
    [server] = await _spans_of(receiver, trace, 1)
    assert (server.name, server.attributes["http.response.status_code"]) == ("GET /broken", 500)
    assert server.error is not None


async def test_the_server_span_of_a_shed_request_ends_with_its_503(
    make_bff, upstream, receiver
) -> None:
    shed = {"enabled": True, "max_in_flight": 1, "max_queue_wait_s": 0}
    bff = make_bff(
        {
            "resilience": {"shed": shed},
            "tracing": {"endpoint": receiver.endpoint, "export_interval_s": 0.05},
        }
    )
    entered, gate = asyncio.Event(), asyncio.Event()

    @bff.get("/work", auth=False)
    async def work(request: Request) -> Response:
        entered.set()
        await gate.wait()
        return Response(204)

    running = asyncio.ensure_future(call(bff, "GET", "/work"))
    await asyncio.wait_for(entered.wait(), 5)
    trace = uuid.uuid4().hex
    refused = await call(bff, "GET", "/work", headers=_caller(trace))
    gate.set()
    await running
    assert refused.status == 503
    [server] = await _spans_of(receiver, trace, 1)
    assert server.attributes["http.response.status_code"] == 503
    # shed answers above the route stage: no route is known yet
    assert server.attributes["http.route"] == "<unmatched>"


async def test_the_server_span_ends_when_metrics_are_off(make_bff, upstream, receiver) -> None:
    _script(upstream)
    bff = make_bff(
        {
            "upstreams": {"svc": upstream.url},
            "metrics": {"enabled": False},
            "tracing": {"endpoint": receiver.endpoint, "export_interval_s": 0.05},
        }
    )

    @bff.get("/home", auth=False, plan=PLAN)
    async def home(request: Request) -> Response:
        return await aggregate(request, _shape)

    trace = uuid.uuid4().hex
    assert (await call(bff, "GET", "/home", headers=_caller(trace))).status == 200
    spans = {s.name: s for s in await _spans_of(receiver, trace, 4)}
    assert spans["GET /home"].attributes["http.response.status_code"] == 200
    assert spans["GET /home"].parent_id == CALLER_SPAN
