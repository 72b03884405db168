"""The mobile BFF's versions: v2 home (the redesign) beside v1, which tells the builds still
calling it that it is deprecated; the Android workaround for builds 3.0 to 3.3; unknown
clients served; sunset-check reading the BFF's own metrics; and no workaround of any BFF
past its expiry date; a bad clients table stops the BFF with status 2 naming the key."""

from __future__ import annotations

import datetime
import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tailor.clients import ClientSettings, expired
from tailor.govern import sunset
from tailor.validation import convert
from waveform.supervisor import BFFS, TOKEN_SECRET_ENV, Platform

from .caller import Caller

OLD_ANDROID = "waveform/3.2.0 (Android 14)"
CURRENT_ANDROID = "waveform/3.4.0 (Android 14)"


def home(caller: Caller, version: str, client: str | bytes | None) -> httpx.Response:
    headers: dict[str, str | bytes] = {"authorization": f"Bearer {caller.token}"}
    if client is not None:
        headers["x-client-version"] = client
    return caller.http.get(f"{caller.base}/{version}/home", headers=headers)


def track_cards(body: dict[str, object]) -> list[dict[str, object]]:
    stream = body["stream"]
    assert isinstance(stream, dict) and isinstance(body["recommendations"], list)
    return [item["track"] for item in stream["items"]] + body["recommendations"]


def test_v1_home_tells_an_old_build_it_is_deprecated_and_until_when(mobile_alice: Caller) -> None:
    response = home(mobile_alice, "v1", "3.1.0")
    assert response.status_code == 200, response.text
    assert response.headers["deprecation"] == "@1796083200"  # 2026-12-01
    assert response.headers["sunset"] == "Wed, 30 Jun 2027 00:00:00 GMT"
    assert 'rel="deprecation"' in response.headers["link"]


def test_v2_home_has_the_v1_cards_as_shelves_and_is_not_deprecated(mobile_alice: Caller) -> None:
    v1 = home(mobile_alice, "v1", "4.0.0").json()
    response = home(mobile_alice, "v2", "4.0.0")
    assert response.status_code == 200, response.text
    assert "deprecation" not in response.headers
    v2 = response.json()
    assert v2["me"] == v1["me"]
    kinds = [shelf["kind"] for shelf in v2["shelves"]]
    assert kinds == ["stream", "tracks", "playlists"]
    stream, tracks, playlists = v2["shelves"]
    assert stream["items"] == v1["stream"]["items"]
    assert tracks["items"] == v1["recommendations"]
    assert playlists["items"] == v1["playlists"]


def test_old_android_builds_get_duration_s_back_on_v1_home(mobile_alice: Caller) -> None:
    cards = track_cards(home(mobile_alice, "v1", OLD_ANDROID).json())
    assert cards
    assert all(card["duration_s"] == card["duration_ms"] // 1000 for card in cards)  # type: ignore[operator]


@pytest.mark.parametrize("client", [CURRENT_ANDROID, "waveform/3.2.0 (iOS 17)", None])
def test_other_builds_get_v1_home_as_it_is(mobile_alice: Caller, client: str | None) -> None:
    cards = track_cards(home(mobile_alice, "v1", client).json())
    assert cards and not any("duration_s" in card for card in cards)


@pytest.mark.parametrize("client", ["3.x", "waveform/", "\u00e9\u00e9".encode(), "9" * 300])
def test_a_malformed_client_version_is_served_as_an_unknown_client(
    mobile_alice: Caller, client: str | bytes
) -> None:
    assert home(mobile_alice, "v2", client).status_code == 200


def test_sunset_check_refuses_v1_home_while_its_share_is_high(
    platform: Platform, mobile_alice: Caller, capsys: pytest.CaptureFixture[str]
) -> None:
    home(mobile_alice, "v1", OLD_ANDROID)
    metrics = f"{platform.admin_url('mobile')}/metrics"
    status = sunset.main(["--route", "/v1/home", "--metrics", metrics])
    out = capsys.readouterr().out
    assert status == 1, out
    assert "REFUSED: sunset 2027-06-30" in out
    assert "waveform         android    3.2.0" in out


@pytest.mark.parametrize("bff", sorted(BFFS))
def test_no_workaround_of_a_bff_is_past_its_expiry_date(bff: str) -> None:
    profile = importlib.import_module(f"waveform.bffs.{bff}.app").PROFILE
    if "clients" not in profile:
        return
    settings = convert(profile["clients"], ClientSettings, at="clients")
    assert expired(settings.workarounds, datetime.datetime.now(datetime.UTC).date()) == []


@pytest.mark.parametrize(
    "clients, key",
    [
        (
            {"workarounds": {"android-duration-s": {"transform": "restore_duraton_s"}}},
            "clients.workarounds.android-duration-s.transform",
        ),
        (
            {"deprecations": {"/v1/home": {"sunset": "2026-11-30"}}},
            "clients.deprecations./v1/home.sunset",
        ),
    ],
)
def test_the_mobile_bff_with_a_bad_clients_table_exits_2_naming_the_key(
    tmp_path: Path, clients: dict[str, object], key: str
) -> None:
    config = tmp_path / "bad.json"
    config.write_text(json.dumps({"listen": {"port": 0}, "clients": clients}))
    done = subprocess.run(
        [sys.executable, "-m", "waveform.bffs.mobile", "--config", str(config)],
        env={**os.environ, TOKEN_SECRET_ENV: "test-secret"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert key in done.stderr
    assert "Traceback" not in done.stderr
