"""The platform's paging surface (ops/): generated from ops/slo.toml and current, and accepted
by the real tools: ``promtool check rules``, ``promtool test rules`` (each alert fires and does
not: ops/prometheus/tests/slo_test.yml), ``promtool check config`` and ``amtool``."""

from __future__ import annotations

import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from tailor.slo.cli import ALERTMANAGER, DASHBOARD, PROMETHEUS, RULES, generate, stale
from tailor.slo.spec import load
from waveform.supervisor import BFFS, HOST

ROOT = Path(__file__).resolve().parents[2]
OPS = ROOT / "ops"
SPEC = "ops/slo.toml"

promtool = pytest.mark.skipif(
    shutil.which("promtool") is None, reason="promtool (Debian prometheus)"
)
amtool = pytest.mark.skipif(
    shutil.which("amtool") is None, reason="amtool (Debian prometheus-alertmanager)"
)


def _run(*argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def test_the_committed_ops_files_are_generated_from_the_current_spec_and_routes() -> None:
    files = generate(load(ROOT / SPEC), SPEC)
    assert stale(files, OPS) == [], "run: python -m tailor slo ops/slo.toml --out ops"


def test_every_bff_the_platform_starts_has_slos_and_is_watched_on_its_admin_port() -> None:
    targets = tomllib.loads((OPS / DASHBOARD).read_text())["targets"]
    assert targets == {name: f"http://{HOST}:{admin}" for name, (_, admin) in BFFS.items()}


@promtool
@pytest.mark.parametrize(("kind", "path"), [("rules", RULES), ("config", PROMETHEUS)])
def test_promtool_accepts_the_generated_file(kind: str, path: Path) -> None:
    """The recording and alerting rules, and the config that scrapes every BFF."""
    result = _run("promtool", "check", kind, str(OPS / path))
    assert result.returncode == 0, result.stdout + result.stderr


@promtool
def test_every_alert_fires_and_stays_quiet_as_its_unit_tests_expect() -> None:
    result = _run(
        "promtool", "test", "rules", str(OPS / "prometheus/tests/slo_test.yml"), timeout=110
    )
    assert result.returncode == 0, result.stdout + result.stderr


@amtool
def test_amtool_accepts_the_alertmanager_config() -> None:
    result = _run("amtool", "check-config", str(OPS / ALERTMANAGER))
    assert result.returncode == 0, result.stdout + result.stderr


@amtool
@pytest.mark.parametrize(("severity", "receiver"), [("page", "page"), ("ticket", "ticket")])
def test_one_routing_tree_sends_each_bffs_alerts_by_severity(severity: str, receiver: str) -> None:
    result = _run(
        "amtool", "config", "routes", "test", f"--config.file={OPS / ALERTMANAGER}",
        f"--verify.receivers={receiver}", f"severity={severity}", "bff=tv", "route_class=read",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
