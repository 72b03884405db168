"""Metrics: the admin listener serves Prometheus text and health on its own port; the public
listener never serves them."""

from __future__ import annotations

import httpx
import pytest
from harness import assert_problem, call

from tailor import AggregateBody, Part, Plan, Request, Response, aggregate


def _bff(make_bff, upstream):
    upstream.script("GET", "/users/u1", json={})
    upstream.script("GET", "/recs", status=503, json={})
    plan = Plan(
        (
            Part("me", "users", "/users/{id}", into=dict),
            Part("recs", "recs", "/recs", into=dict, required=False, fallback=None),
        )
    )
    bff = make_bff({"upstreams": {"users": upstream.url, "recs": upstream.url}})

    @bff.get("/v1/users/{id}", auth=False, plan=plan)
    async def user(request: Request) -> Response:
        return await aggregate(request, lambda o: AggregateBody(), id=request.path_params["id"])

    bff.startup(admin=True)
    return bff


async def _scrape(bff, path: str = "/metrics") -> httpx.Response:
    async with httpx.AsyncClient() as client:
        return await client.get(f"http://127.0.0.1:{bff.admin_port}{path}", timeout=5)


async def test_admin_listener_serves_request_counts_by_route_template(make_bff, upstream) -> None:
    bff = _bff(make_bff, upstream)
    assert (await call(bff, "GET", "/v1/users/u1")).status == 200
    response = await _scrape(bff)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'tailor_requests_total{method="GET",route="/v1/users/{id}",status="200"} 1.0' in text
    assert "/v1/users/u1" not in text  # never the raw path


async def test_admin_listener_counts_upstream_calls_by_outcome(make_bff, upstream) -> None:
    bff = _bff(make_bff, upstream)
    await call(bff, "GET", "/v1/users/u1")
    text = (await _scrape(bff)).text
    assert 'tailor_upstream_requests_total{outcome="ok",upstream="users"} 1.0' in text
    assert 'tailor_upstream_requests_total{outcome="status",upstream="recs"} 1.0' in text


async def test_degraded_response_is_counted_by_part_and_reason(make_bff, upstream) -> None:
    bff = _bff(make_bff, upstream)
    before = await _scrape(bff)
    assert "tailor_degraded_parts_total{" not in before.text
    await call(bff, "GET", "/v1/users/u1")
    text = (await _scrape(bff)).text
    assert (
        'tailor_degraded_parts_total{part="recs",reason="status",route="/v1/users/{id}"} 1.0'
        in text
    )


async def test_unmatched_requests_share_one_label(make_bff, upstream) -> None:
    bff = _bff(make_bff, upstream)
    await call(bff, "GET", "/random/a")
    await call(bff, "GET", "/random/b")
    text = (await _scrape(bff)).text
    assert 'tailor_requests_total{method="GET",route="<unmatched>",status="404"} 2.0' in text


async def test_made_up_methods_share_one_label(make_bff, upstream) -> None:
    bff = _bff(make_bff, upstream)
    for method in ("BREW", "XQ1", "XQ2"):
        await call(bff, method, "/random/a")
    text = (await _scrape(bff)).text
    assert 'tailor_requests_total{method="OTHER",route="<unmatched>",status="404"} 3.0' in text
    assert "BREW" not in text


async def test_5xx_answers_are_counted_with_their_cause(make_bff, upstream) -> None:
    upstream.script("GET", "/users/u1", status=500, json={})
    bff = _bff(make_bff, upstream)
    upstream.script("GET", "/users/u1", status=500, json={})
    await call(bff, "GET", "/v1/users/u1")
    text = (await _scrape(bff)).text
    assert 'tailor_errors_total{cause="upstream_status",route="/v1/users/{id}"} 1.0' in text


async def test_admin_listener_serves_healthz(make_bff, upstream) -> None:
    response = await _scrape(_bff(make_bff, upstream), "/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_metrics_path_on_the_public_listener_is_a_404(make_bff, upstream) -> None:
    bff = _bff(make_bff, upstream)
    assert_problem(await call(bff, "GET", "/metrics"), 404)
    assert_problem(await call(bff, "GET", "/healthz"), 404)


async def test_admin_listener_is_not_started_when_disabled(make_bff) -> None:
    bff = make_bff({"admin": {"enabled": False}})
    bff.startup(admin=True)
    assert bff.admin_port is None


async def test_shutdown_stops_the_admin_listener(make_bff, upstream) -> None:
    bff = _bff(make_bff, upstream)
    port = bff.admin_port
    await bff.shutdown()
    async with httpx.AsyncClient() as client:
        try:
            await client.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
        except httpx.TransportError:
            return
    raise AssertionError("the admin listener still answers after shutdown")


def _two_free_ports() -> int:
    import socket

    for _ in range(50):
        with socket.socket() as a:
            a.bind(("127.0.0.1", 0))
            port = a.getsockname()[1]
            with socket.socket() as b:
                try:
                    b.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
                return int(port)
    raise RuntimeError("no two consecutive free ports")


def test_each_worker_claims_its_own_admin_port() -> None:
    from tailor import build_config
    from tailor.app import claim_admin_port
    from tailor.observe.metrics import Metrics

    port = _two_free_ports()
    cfg = build_config({"name": "m", "admin": {"port": port}, "server": {"workers": 2}})
    first = claim_admin_port(cfg, Metrics("m"))
    second = claim_admin_port(cfg, Metrics("m"))
    try:
        assert {first.port, second.port} == {port, port + 1}
        with pytest.raises(OSError):  # a third would-be worker finds both taken
            claim_admin_port(cfg, Metrics("m"))
    finally:
        first.stop()
        second.stop()


def test_request_latency_is_a_cumulative_histogram_per_route() -> None:
    from prometheus_client import CollectorRegistry

    from tailor.observe.metrics import RequestMetrics

    registry = CollectorRegistry()
    metrics = RequestMetrics((0.01, 0.1))
    registry.register(metrics)
    for status, seconds in ((200, 0.01), (200, 0.05), (404, 3.0)):  # 0.01 is "le 0.01"
        metrics.series("/r", "GET", status).record(seconds)

    def sample(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, {"route": "/r", **labels})

    assert sample("tailor_request_duration_seconds_bucket", le="0.01") == 1.0
    assert sample("tailor_request_duration_seconds_bucket", le="0.1") == 2.0
    assert sample("tailor_request_duration_seconds_bucket", le="+Inf") == 3.0
    assert sample("tailor_request_duration_seconds_count") == 3.0
    assert sample("tailor_request_duration_seconds_sum") == pytest.approx(3.06)
    assert sample("tailor_requests_total", method="GET", status="200") == 2.0


def test_a_tally_is_exposed_exactly_as_a_counter() -> None:
    from prometheus_client import CollectorRegistry, Counter, generate_latest

    from tailor.observe.metrics import Tally

    def exposed(registry: CollectorRegistry) -> list[str]:
        text = generate_latest(registry).decode()
        return [line for line in text.splitlines() if not line.startswith("x_lookups_created{")]

    counter, tally = CollectorRegistry(), CollectorRegistry()
    labels = ["route", "result"]
    Counter("x_lookups", "Lookups.", labels, registry=counter).labels("/r", "hit").inc()
    Tally("x_lookups", "Lookups.", labels, registry=tally).labels("/r", "hit").inc()
    assert exposed(tally) == exposed(counter)


def test_upstream_latency_is_a_cumulative_histogram_per_upstream() -> None:
    from tailor.observe.metrics import Metrics

    m = Metrics("t")
    m.upstream_latency.labels("users").observe(0.003)
    m.upstream_latency.labels("users").observe(0.2)
    value = m.registry.get_sample_value
    name = "tailor_upstream_duration_seconds"
    assert value(f"{name}_bucket", {"upstream": "users", "le": "0.001"}) == 0.0
    assert value(f"{name}_bucket", {"upstream": "users", "le": "0.005"}) == 1.0
    assert value(f"{name}_bucket", {"upstream": "users", "le": "+Inf"}) == 2.0
    assert value(f"{name}_count", {"upstream": "users"}) == 2.0
    assert value(f"{name}_sum", {"upstream": "users"}) == 0.203
