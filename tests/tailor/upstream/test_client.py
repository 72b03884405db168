"""The upstream client: inward requests built from scratch with the deadline and request id,
statuses and bodies turned into typed values or UpstreamErrors. Transport-seam unit tests use
MockTransport; the pyreqwest transport is checked against a real server."""

from __future__ import annotations

import msgspec
import pytest
from upstreams import closed_port

from tailor.aggregate import Deadline
from tailor.errors import (
    UpstreamDecodeError,
    UpstreamStatusError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from tailor.observe.metrics import Metrics
from tailor.upstream import MockTransport, ServiceRegistry, UpstreamClient
from tailor.upstream.pyreqwest_transport import PyreqwestTransport
from tailor.upstream.transport import UpstreamRequest, UpstreamResponse


class Card(msgspec.Struct):
    id: str


def _mock(status: int = 200, body: bytes = b'{"id": "u1"}') -> MockTransport:
    async def answer(request: UpstreamRequest) -> UpstreamResponse:
        return UpstreamResponse(status, {}, body)

    return MockTransport(answer)


def _client(transport, metrics: Metrics | None = None) -> UpstreamClient:
    return UpstreamClient(
        ServiceRegistry({"users": "http://users.internal"}), transport, metrics=metrics
    )


async def test_inward_request_carries_accept_deadline_and_request_id_only() -> None:
    transport = _mock()
    await _client(transport).get_json(
        "users", "/users/u1", Card, timeout_s=0.25, request_id="rid-00000001"
    )
    [sent] = transport.requests
    assert sent.url == "http://users.internal/users/u1"
    assert dict(sent.headers) == {
        "accept": "application/json",
        "x-deadline-ms": "250",
        "x-request-id": "rid-00000001",
    }
    assert sent.timeout_s == 0.25


async def test_query_is_encoded_onto_the_url() -> None:
    transport = _mock()
    await _client(transport).request("users", "/users", query={"ids": "a,b", "q": "x y&z"})
    assert transport.requests[0].url == "http://users.internal/users?ids=a,b&q=x+y%26z"


async def test_timeout_is_cut_to_what_the_deadline_has_left() -> None:
    transport = _mock()
    await _client(transport).request("users", "/u", timeout_s=5.0, deadline=Deadline(0.2))
    assert transport.requests[0].timeout_s <= 0.2
    assert int(dict(transport.requests[0].headers)["x-deadline-ms"]) <= 200


async def test_spent_deadline_fails_without_calling() -> None:
    transport = _mock()
    with pytest.raises(UpstreamTimeout):
        await _client(transport).request("users", "/u", deadline=Deadline(0.0))
    assert transport.requests == []


async def test_2xx_json_is_decoded_into_the_consumed_type() -> None:
    assert await _client(_mock()).get_json("users", "/u", Card) == Card("u1")


async def test_non_2xx_status_raises_upstream_status_error() -> None:
    with pytest.raises(UpstreamStatusError) as info:
        await _client(_mock(status=404)).get_json("users", "/u", Card)
    assert info.value.status == 404 and info.value.upstream == "users"


async def test_body_of_the_wrong_shape_raises_upstream_decode_error() -> None:
    with pytest.raises(UpstreamDecodeError) as info:
        await _client(_mock(body=b'{"name": 1}')).get_json("users", "/u", Card)
    assert isinstance(info.value.__cause__, msgspec.DecodeError)


async def test_calls_are_counted_by_upstream_and_outcome() -> None:
    metrics = Metrics("t")
    client = _client(_mock(status=503), metrics)
    await client.request("users", "/u")
    value = metrics.registry.get_sample_value(
        "tailor_upstream_requests_total", {"upstream": "users", "outcome": "status"}
    )
    assert value == 1.0


async def test_pyreqwest_sends_the_request_and_reads_the_answer(upstream) -> None:
    upstream.script("GET", "/users/u1", json={"id": "u1"})
    transport = PyreqwestTransport()
    try:
        client = UpstreamClient(ServiceRegistry({"users": upstream.url}), transport)
        assert await client.get_json("users", "/users/u1", Card, request_id="rid-00000002") == Card(
            "u1"
        )
    finally:
        await transport.aclose()
    assert upstream.received()[0].headers["x-request-id"] == "rid-00000002"


async def test_pyreqwest_timeout_raises_upstream_timeout(upstream) -> None:
    upstream.script("GET", "/slow", json={}, delay=2.0)
    transport = PyreqwestTransport()
    try:
        with pytest.raises(UpstreamTimeout):
            await transport.send(UpstreamRequest("svc", "GET", f"{upstream.url}/slow", [], 0.1))
    finally:
        await transport.aclose()


async def test_pyreqwest_connection_refused_raises_upstream_unavailable() -> None:
    transport = PyreqwestTransport()
    try:
        with pytest.raises(UpstreamUnavailable):
            await transport.send(
                UpstreamRequest("svc", "GET", f"http://127.0.0.1:{closed_port()}/", [], 1.0)
            )
    finally:
        await transport.aclose()


async def test_pyreqwest_does_not_follow_redirects(upstream, scripted) -> None:
    elsewhere = await scripted()
    upstream.script("GET", "/moved", status=302, headers={"location": f"{elsewhere.url}/x"})
    transport = PyreqwestTransport()
    try:
        response = await transport.send(
            UpstreamRequest("svc", "GET", f"{upstream.url}/moved", [], 1.0)
        )
    finally:
        await transport.aclose()
    assert response.status == 302
    assert elsewhere.received() == []
