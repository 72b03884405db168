"""One trace across the platform: a sampled request on the mobile BFF is joined, in the
collector, with the spans of the catalog (value-added) and the foundation services behind it,
each parented by the span that made the call."""

from __future__ import annotations

import uuid

from otlp_receiver import OtlpReceiver, ReceivedSpan
from waveform.supervisor import Platform

from .caller import Caller

SERVER, CLIENT = 2, 3


def _track(caller: Caller, trace: str) -> int:
    # A track page: never answered by the edge cache (only the home is cached), so every
    # request goes through the catalog to the tracks service.
    response = caller.http.get(
        f"{caller.base}/v1/tracks/t1",
        headers={
            "authorization": f"Bearer {caller.token}",
            "traceparent": f"00-{trace}-{'e' * 16}-01",
        },
    )
    return response.status_code


def _joined(otlp: OtlpReceiver, trace: str) -> list[ReceivedSpan]:
    """The trace, once the BFF, the catalog and a foundation service behind it are in."""

    def complete(spans: list[ReceivedSpan]) -> bool:
        servers = {s.service for s in spans if s.trace_id == trace and s.kind == SERVER}
        return {"mobile", "catalog", "tracks"} <= servers

    otlp.wait_for(complete, timeout=15)
    return otlp.trace(trace)


def test_a_request_is_one_trace_through_the_bff_and_the_services_it_calls(
    platform: Platform, mobile_alice: Caller, otlp: OtlpReceiver
) -> None:
    trace = uuid.uuid4().hex
    assert _track(mobile_alice, trace) == 200
    spans = _joined(otlp, trace)
    by_id = {s.span_id: s for s in spans}
    [edge] = [s for s in spans if s.service == "mobile" and s.kind == SERVER]
    assert edge.name == "GET /v1/tracks/{id}" and edge.parent_id == "e" * 16
    parts = [s for s in spans if s.service == "mobile" and s.kind == CLIENT]
    assert {p.attributes["bff.part"] for p in parts} == {"me", "track", "owner", "engagement"}
    assert all(p.parent_id == edge.span_id for p in parts)
    # Each service's server span is the child of the BFF's Part span that called it...
    catalog = [s for s in spans if s.service == "catalog" and s.kind == SERVER]
    assert catalog and all(by_id[s.parent_id] in parts for s in catalog)
    # ...and the catalog's own calls to the foundation carry the trace one level further.
    tracks = [s for s in spans if s.service == "tracks" and s.kind == SERVER]
    assert tracks
    for span in tracks:
        caller = by_id[span.parent_id]  # the catalog's aiohttp client span
        assert caller.service == "catalog" and by_id[caller.parent_id] in catalog
