"""The client-version gate, on tailor's client identification: app builds below the configured
minimum are told to update (426 problem+json) before anything else; current builds, and
unknown clients (no header, or one that is no version) when allowed, go on; bad settings
stop startup."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from tailor import BFF, ConfigError, Request, Response, build_config, json_response
from waveform.bffs.client_version import ClientVersionStage
from waveform.supervisor import Platform

from .caller import Caller

PROBLEM = "application/problem+json"
Gate = Callable[..., BFF]


@pytest.fixture
async def gate() -> AsyncIterator[Gate]:
    """A BFF with one public route behind the gate, configured as the test says."""
    made: list[BFF] = []

    def make(header: str = "x-client-version", **settings: Any) -> BFF:
        config = {"name": "app", "admin": {"enabled": False}, "stages": {}}
        config["clients"] = {"source": "header", "header": header}
        config["stages"] = {"client_version": {"minimum": "4.2.0", **settings}}
        bff = BFF(build_config(config))
        bff.add_stage(ClientVersionStage, after="clients")

        @bff.get("/v1/ping", auth=False)
        async def ping(request: Request) -> Response:
            return json_response({"ok": True})

        made.append(bff)
        return bff

    yield make
    for bff in made:
        await bff.shutdown()


async def get(bff: BFF, version: str | None, header: str = "x-client-version") -> Response:
    headers = {} if version is None else {header: version}
    return await bff.handle(Request("GET", "/v1/ping", "", headers, "127.0.0.1"))


@pytest.mark.parametrize("version", ["4.2.0", "4.2", "4.10.1", "5"])
async def test_a_version_at_or_above_the_minimum_is_served(gate: Gate, version: str) -> None:
    assert (await get(gate(), version)).status == 200


@pytest.mark.parametrize("version", ["4.1.9", "4.1", "3.99.99", "0"])
async def test_a_version_below_the_minimum_is_told_to_upgrade(gate: Gate, version: str) -> None:
    response = await get(gate(), version)
    assert response.status == 426
    assert response.header("content-type") == PROBLEM
    assert b"update to 4.2.0 or later" in response.body


async def test_the_same_version_gets_the_same_answer_when_seen_again(gate: Gate) -> None:
    bff = gate()
    assert [(await get(bff, v)).status for v in ("4.1", "4.3", "4.1", "4.3")] == [426, 200] * 2


@pytest.mark.parametrize("version", ["4.x", "", "4..2", "1.2.3.4.5", "1234567", "٤.٢"])
async def test_a_header_that_is_no_version_is_an_unknown_client(gate: Gate, version: str) -> None:
    assert (await get(gate(), version)).status == 200


@pytest.mark.parametrize("version", ["4.x", None])
async def test_an_unknown_client_is_a_400_naming_the_header_when_it_is_required(
    gate: Gate, version: str | None
) -> None:
    response = await get(gate(allow_missing=False), version)
    assert response.status == 400
    assert b'"parameter":"x-client-version"' in response.body


async def test_a_request_without_the_header_is_served_when_allowed(gate: Gate) -> None:
    assert (await get(gate(), None)).status == 200


async def test_the_header_read_is_the_configured_one(gate: Gate) -> None:
    bff = gate(header="X-App-Version")
    assert (await get(bff, "1.0", header="x-app-version")).status == 426


@pytest.mark.parametrize(
    "settings, key",
    [
        ({"minimum": "4.x"}, "stages.client_version.minimum"),
        ({"minimum": None}, "stages.client_version.minimum"),
        ({"minimum": "4.2", "allow_missing": "yes"}, "stages.client_version.allow_missing"),
        ({"minimum": "4.2", "minimal": "4.2"}, "stages.client_version.minimal"),
        ({}, "stages.client_version.minimum"),
    ],
)
def test_a_bad_setting_stops_startup_naming_its_key(settings: dict[str, Any], key: str) -> None:
    config = {"name": "app", "clients": {}, "stages": {"client_version": settings}}
    bff = BFF(build_config(config))
    bff.add_stage(ClientVersionStage, after="clients")
    with pytest.raises(ConfigError) as info:
        bff.startup(admin=False)
    assert info.value.key == key


def test_the_gate_needs_client_identification() -> None:
    bff = BFF(build_config({"name": "app", "stages": {"client_version": {"minimum": "4.2"}}}))
    bff.add_stage(ClientVersionStage, after="route")
    with pytest.raises(ConfigError) as info:
        bff.startup(admin=False)
    assert info.value.key == "clients"


def test_the_mobile_bff_refuses_an_outdated_app_over_the_wire(
    platform: Platform, http: httpx.Client
) -> None:
    response = http.get(f"{platform.url('mobile')}/v1/home", headers={"x-client-version": "2.9.0"})
    assert response.status_code == 426, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["request_id"] == response.headers["x-request-id"]


def test_the_mobile_bff_serves_a_current_app_over_the_wire(mobile_alice: Caller) -> None:
    response = mobile_alice.http.get(
        f"{mobile_alice.base}/v1/home",
        headers={"authorization": f"Bearer {mobile_alice.token}", "x-client-version": "3.1.0"},
    )
    assert response.status_code == 200, response.text
