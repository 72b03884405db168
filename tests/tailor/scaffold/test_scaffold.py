"""``python -m tailor new``: a BFF that works and is tested, in one command. Scaffolds run in
a subprocess in a temporary project, as a user runs them, and so do the tests they write."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from tailor.scaffold.cli import main
from tailor.scaffold.render import NewBff

ALERTING = """[alerting]
page = { webhook_url = "http://127.0.0.1:9095/page" }
ticket = { webhook_url = "http://127.0.0.1:9095/ticket" }
"""


def _run(root: Path, *argv: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(root / "src"), env.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, *argv], cwd=root, env=env, capture_output=True, text=True,
        timeout=timeout,
    )  # fmt: skip


def test_the_new_bffs_own_tests_pass_in_a_fresh_project(tmp_path: Path) -> None:
    made = _run(tmp_path, "-m", "tailor", "new", "kiosk")
    assert made.returncode == 0, made.stderr
    tested = _run(tmp_path, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests")
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "3 passed" in tested.stdout


def test_the_new_bff_is_ruff_clean(tmp_path: Path) -> None:
    # Import order is left out: what counts as first party is the project's to say.
    assert main(["kiosk", "--root", str(tmp_path)]) == 0
    linted = _run(
        tmp_path, "-m", "ruff", "check", "--no-cache", "--line-length", "100",
        "--select", "E,F,W,B,UP,SIM,RUF", ".",
    )  # fmt: skip
    assert linted.returncode == 0, linted.stdout + linted.stderr


def test_the_new_bff_joins_the_platforms_slo_spec_and_openapi_documents(tmp_path: Path) -> None:
    (tmp_path / "ops/prometheus").mkdir(parents=True)
    (tmp_path / "ops/slo.toml").write_text(ALERTING)
    (tmp_path / "docs/openapi").mkdir(parents=True)
    made = _run(tmp_path, "-m", "tailor", "new", "kiosk", "--port", "8095")
    assert made.returncode == 0, made.stderr
    assert "/v1/items/{id}" in (tmp_path / "docs/openapi/kiosk.json").read_text()
    config = yaml.safe_load((tmp_path / "ops/prometheus/prometheus.yml").read_text())
    assert config["scrape_configs"][0]["static_configs"] == [{"targets": ["127.0.0.1:8195"]}]
    targets = tomllib.loads((tmp_path / "ops/dashboard.toml").read_text())["targets"]
    assert targets == {"kiosk": "http://127.0.0.1:8195"}
    current = _run(tmp_path, "-m", "tailor", "slo", "ops/slo.toml", "--out", "ops", "--check")
    assert current.returncode == 0, current.stderr


def test_an_existing_bff_is_never_overwritten(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["kiosk", "--root", str(tmp_path)]) == 0
    app = tmp_path / "src/kiosk/app.py"
    app.write_text("# edited\n")
    assert main(["kiosk", "--root", str(tmp_path)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert app.read_text() == "# edited\n"


@pytest.mark.parametrize("name", ["TV", "1tv", "tv-app", ""])
def test_a_name_that_is_no_module_name_is_refused(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([name, "--root", str(tmp_path)]) == 2
    assert "invalid config at 'name'" in capsys.readouterr().err
    assert not (tmp_path / "src").exists()


def test_a_package_places_the_module_under_it() -> None:
    new = NewBff("tv", package="waveform.bffs", src=Path("platform/src"))
    assert new.directory == Path("platform/src/waveform/bffs/tv")
