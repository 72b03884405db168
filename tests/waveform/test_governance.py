"""Every field the reference BFFs answer or read has a data class, every personal one they
answer is allowed by name, and docs/data-classes.md is what they expose today."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tailor.app import BFF
from tailor.govern.__main__ import main
from tailor.govern.command import load_bff
from tailor.govern.exposure import answered, unlabelled
from waveform.bffs.mobile.app import PROFILE
from waveform.contracts import MODULES

ROOT = Path(__file__).parents[2]
PAGE = "docs/data-classes.md"


@pytest.fixture(scope="module")
def built() -> list[BFF]:
    return [load_bff(m) for m in MODULES]


def test_every_field_the_bffs_answer_or_read_has_a_data_class(built: list[BFF]) -> None:
    missing = [f"{b.config.name}: {f.key}" for b in built for f in unlabelled(b.router.routes)]
    assert missing == []


def test_every_route_that_runs_a_plan_declares_the_struct_it_answers(built: list[BFF]) -> None:
    undeclared = [
        f"{b.config.name}: {r.method} {r.template}"
        for b in built
        for r in b.router.routes
        if r.plan is not None and answered(r) is None
    ]
    assert undeclared == []


def test_every_bff_starts_with_its_exposure_allowed(built: list[BFF]) -> None:
    for bff in built:
        bff.check()  # raises ConfigError for a personal field without an entry


def test_the_data_classes_page_is_current(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    assert main(["classes", *MODULES, "--check", PAGE]) == 0, f"refresh it as {PAGE} says"


def test_a_stale_data_classes_page_fails_the_check(tmp_path: Path) -> None:
    stale = tmp_path / "data-classes.md"
    stale.write_text("# Data classes\n\nmobile exposes nothing personal.\n")
    assert main(["classes", *MODULES, "--check", str(stale)]) == 1


def test_started_with_an_entry_naming_no_field_the_mobile_bff_exits_2_naming_the_key(
    tmp_path: Path,
) -> None:
    expose = [
        *PROFILE["governance"]["expose"],
        {"field": "UserScreen.town", "reason": "a typo of city"},
    ]
    config = tmp_path / "mobile.json"
    config.write_text(json.dumps({"listen": {"port": 0}, "governance": {"expose": expose}}))
    done = subprocess.run(
        [sys.executable, "-m", "waveform.bffs.mobile", "--config", str(config)],
        env={**os.environ, "WAVEFORM_TOKEN_EXCHANGE_SECRET": "not-used"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert f"governance.expose.{len(expose) - 1}.field" in done.stderr
    assert "Traceback" not in done.stderr
