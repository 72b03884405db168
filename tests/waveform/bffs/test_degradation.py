"""Through the real platform: a slow optional service leaves a marked partial response within
the deadline; a dead required service is a 502 problem, and the rest keeps serving.

This module starts its own platform, with the recommendations service slowed past the home
screen's timeout for that part (0.3 s)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from waveform.supervisor import Platform

from .caller import login
from .conftest import SCALE

SLOW_MS = 900  # past the part's 0.3 s timeout, inside nothing the deadline would wait for
HOME_DEADLINE_S = 1.0


@pytest.fixture(scope="module")
def slow_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    data_dir: Path = tmp_path_factory.mktemp("waveform-slow")
    env = {"recommendations": {"WAVEFORM_FAULT_DELAY_MS": str(SLOW_MS)}}
    with Platform(data_dir, ephemeral=True, scale=SCALE, env=env) as p:
        yield p


@pytest.fixture(scope="module")
def token(slow_platform: Platform) -> str:
    with httpx.Client(timeout=10) as http:
        return login(http, slow_platform.url("mobile"), "/v1/auth/token", "alice")


def _home(platform: Platform, token: str) -> tuple[httpx.Response, float]:
    with httpx.Client(timeout=10) as http:
        started = time.perf_counter()
        response = http.get(
            f"{platform.url('mobile')}/v1/home", headers={"authorization": f"Bearer {token}"}
        )
        return response, time.perf_counter() - started


def test_a_slow_optional_service_gives_a_marked_partial_home_within_the_deadline(
    slow_platform: Platform, token: str
) -> None:
    response, elapsed = _home(slow_platform, token)
    assert response.status_code == 200
    body = response.json()
    assert body["degraded"] == [{"part": "recs", "reason": "timeout"}]
    assert response.headers["tailor-degraded"] == "recs;reason=timeout"
    assert body["recommendations"] == []
    assert body["stream"]["items"], "the parts that answered are still there"
    assert elapsed < HOME_DEADLINE_S


def test_a_dead_required_service_is_a_502_problem_and_the_bff_keeps_serving(
    slow_platform: Platform, token: str
) -> None:
    slow_platform.kill("users")  # "me" is a required part of the home screen
    response, _ = _home(slow_platform, token)
    assert response.status_code == 502
    assert response.headers["content-type"] == "application/problem+json"
    assert "users" in response.json()["detail"]
    assert slow_platform.is_running("mobile")
    with httpx.Client(timeout=10) as http:
        health = http.get(f"{slow_platform.admin_url('mobile')}/healthz")
    assert health.status_code == 200
