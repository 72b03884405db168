"""The BFFs speak inward with exchanged internal tokens, cached until shortly before expiry."""

from __future__ import annotations

import httpx

from platforms import metric
from waveform.supervisor import Platform

from .caller import signed_in


def _issued(platform: Platform, http: httpx.Client, client: str) -> int:
    stats = http.get(f"{platform.url('tokens')}/stats").json()
    return int(stats["issued"].get(client, 0))


def _metric_exchanges(platform: Platform, bff: str) -> float:
    return metric(platform.admin_url(bff), "tailor_token_exchanges_total", outcome="ok")


def test_repeated_requests_reuse_cached_internal_tokens(
    platform: Platform, http: httpx.Client
) -> None:
    erin = signed_in(platform, http, "mobile", "erin")
    assert erin.get("/v1/home").status_code == 200  # warms erin's tokens, one per service
    before = _issued(platform, http, "bff-mobile")
    for _ in range(5):
        assert erin.get("/v1/home").status_code == 200
    assert _issued(platform, http, "bff-mobile") == before


def test_a_new_caller_costs_one_exchange_per_upstream_and_the_bff_counts_them(
    platform: Platform, http: httpx.Client
) -> None:
    dave = signed_in(platform, http, "mobile", "dave")  # no tokens yet
    before_service = _issued(platform, http, "bff-mobile")
    before_metric = _metric_exchanges(platform, "mobile")
    assert dave.get("/v1/playlists/p1").status_code == 200
    issued = _issued(platform, http, "bff-mobile") - before_service
    # users (me, people), playlists, catalog: at most one exchange each, never per call.
    assert 0 < issued <= 3
    assert _metric_exchanges(platform, "mobile") - before_metric == issued
