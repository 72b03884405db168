"""examples/custom_stage.py: a BFF's own stage at a named position, with its own settings,
in-process and as the process the guide starts."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import custom_stage
import pytest

from tailor import BFF, ConfigError, Request, Response, build_config
from tailor.config import deep_merge

EXAMPLE = Path(custom_stage.__file__)


@pytest.fixture
async def made() -> AsyncIterator[list[BFF]]:
    bffs: list[BFF] = []
    yield bffs
    for bff in bffs:
        await bff.shutdown()


def timed_bff(made: list[BFF], override: dict[str, object] | None = None) -> BFF:
    """The example's BFF with its profile (and ``override``) as the config."""
    bff: BFF = custom_stage.create(build_config(deep_merge(custom_stage.PROFILE, override or {})))
    made.append(bff)
    return bff


async def test_the_stage_sits_right_after_request_id(made: list[BFF]) -> None:
    bff = timed_bff(made)
    bff.startup(admin=False)
    assert bff.stages[bff.stages.index("RequestIdStage") + 1] == "ServerTimingStage"


async def test_an_awaited_answer_carries_server_timing(made: list[BFF]) -> None:
    response = await timed_bff(made).handle(Request("GET", "/hello", "", {}, "127.0.0.1"))
    assert response.status == 200
    assert (response.header("server-timing") or "").startswith("edge;dur=")


async def test_an_answer_found_at_once_carries_server_timing_too(made: list[BFF]) -> None:
    bff = timed_bff(made)
    bff.startup(admin=False)
    refused = bff.respond(Request("GET", "/nowhere", "", {}, "127.0.0.1"))
    assert isinstance(refused, Response)  # the router's 404, found without a coroutine
    assert (refused.header("server-timing") or "").startswith("edge;dur=")


async def test_the_metric_name_comes_from_the_stages_settings(made: list[BFF]) -> None:
    bff = timed_bff(made, {"stages": {"server_timing": {"metric": "bff"}}})
    response = await bff.handle(Request("GET", "/hello", "", {}, "127.0.0.1"))
    assert (response.header("server-timing") or "").startswith("bff;dur=")


async def test_switched_off_the_stage_is_not_in_the_chain(made: list[BFF]) -> None:
    bff = timed_bff(made, {"stages": {"server_timing": {"enabled": False}}})
    bff.startup(admin=False)
    assert "ServerTimingStage" not in bff.stages


async def test_a_bad_metric_name_stops_startup_naming_the_key(made: list[BFF]) -> None:
    bff = timed_bff(made, {"stages": {"server_timing": {"metric": "not a token"}}})
    with pytest.raises(ConfigError) as info:
        bff.startup(admin=False)
    assert info.value.key == "stages.server_timing.metric"


def test_started_with_a_bad_setting_the_example_exits_2_naming_the_key(tmp_path: Path) -> None:
    config = tmp_path / "bad.json"
    config.write_text(json.dumps({"listen": {"port": 0}, "stages": {"server_timing": {"x": 1}}}))
    done = subprocess.run(
        [sys.executable, EXAMPLE.name, "--config", str(config)],
        cwd=EXAMPLE.parent,  # run from its folder, as the guide does
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "stages.server_timing.x" in done.stderr
    assert "Traceback" not in done.stderr
