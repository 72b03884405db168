"""X-Deadline-Ms: a spent or short budget ends in 504 problem+json, not late work."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from waveform.supervisor import Platform

from .conftest import ServiceTokens

DELAY_MS = 600


@pytest.fixture(scope="module")
def slow_media(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """tracks, rights, catalog, and a media service slowed by the fault knob."""
    data_dir: Path = tmp_path_factory.mktemp("waveform-slow")
    with Platform(
        data_dir,
        ephemeral=True,
        scale=200,
        components=["tokens", "tracks", "rights", "media", "catalog"],
        env={"media": {"WAVEFORM_FAULT_DELAY_MS": str(DELAY_MS)}},
    ) as p:
        assert not p.failures
        yield p


@pytest.fixture(scope="module")
def slow_http(slow_media: Platform) -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10, auth=ServiceTokens(slow_media)) as client:
        yield client


def test_zero_budget_is_504_at_once(platform: Platform, http: httpx.Client) -> None:
    for name, path in (("users", "/users/u1"), ("catalog", "/catalog/tracks/t1")):
        resp = http.get(platform.url(name) + path, headers={"X-Deadline-Ms": "0"})
        assert resp.status_code == 504, name
        assert resp.headers["content-type"] == "application/problem+json"


def test_malformed_deadline_is_400(platform: Platform, http: httpx.Client) -> None:
    resp = http.get(f"{platform.url('users')}/users/u1", headers={"X-Deadline-Ms": "soon"})
    assert resp.status_code == 400


def test_generous_budget_is_served(platform: Platform, http: httpx.Client) -> None:
    resp = http.get(f"{platform.url('users')}/users/u1", headers={"X-Deadline-Ms": "5000"})
    assert resp.status_code == 200


def test_short_budget_against_delayed_service_is_504(
    slow_media: Platform, slow_http: httpx.Client
) -> None:
    started = time.monotonic()
    resp = slow_http.get(f"{slow_media.url('media')}/media/t1", headers={"X-Deadline-Ms": "100"})
    elapsed = time.monotonic() - started
    assert resp.status_code == 504
    assert resp.headers["content-type"] == "application/problem+json"
    assert elapsed < DELAY_MS / 1000


def test_delay_knob_spares_health(slow_media: Platform, slow_http: httpx.Client) -> None:
    started = time.monotonic()
    assert slow_http.get(f"{slow_media.url('media')}/healthz").status_code == 200
    assert time.monotonic() - started < DELAY_MS / 1000


def test_catalog_passes_its_budget_on_and_answers_504(
    slow_media: Platform, slow_http: httpx.Client
) -> None:
    started = time.monotonic()
    resp = slow_http.get(
        f"{slow_media.url('catalog')}/catalog/tracks/t1", headers={"X-Deadline-Ms": "200"}
    )
    elapsed = time.monotonic() - started
    assert resp.status_code == 504
    assert elapsed < DELAY_MS / 1000
    ok = slow_http.get(
        f"{slow_media.url('catalog')}/catalog/tracks/t1", headers={"X-Deadline-Ms": "3000"}
    )
    assert ok.status_code == 200
