"""``python -m tailor.govern``: a registry of subcommands, and the openapi and diff ones."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tailor.govern.__main__ import commands, main
from tailor.govern.openapi import render

HERE = Path(__file__).parent
MODULE = "govern_bff"


@pytest.fixture(autouse=True)
def _importable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(HERE))


def test_every_module_of_the_package_defining_command_is_a_subcommand() -> None:
    assert {"openapi", "diff"} <= set(commands())


def test_openapi_prints_the_document_of_a_module_with_profile_and_build(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["openapi", MODULE]) == 0
    document = json.loads(capsys.readouterr().out)
    assert list(document["paths"]) == ["/v1/ping"]


def test_openapi_check_fails_on_a_stale_file_and_names_the_refresh_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stale = tmp_path / "ping.json"
    stale.write_text("{}\n")
    assert main(["openapi", MODULE, "--check", str(stale)]) == 1
    assert f"python -m tailor.govern openapi {MODULE} --write {stale}" in capsys.readouterr().err


def test_openapi_write_then_check_passes(tmp_path: Path) -> None:
    written = tmp_path / "ping.json"
    assert main(["openapi", MODULE, "--write", str(written)]) == 0
    assert main(["openapi", MODULE, "--check", str(written)]) == 0


def test_a_module_that_cannot_be_imported_exits_2_naming_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["openapi", "no_such_bff_module"]) == 2
    assert "no_such_bff_module" in capsys.readouterr().err


def _documents(tmp_path: Path, old: dict[str, object], new: dict[str, object]) -> list[str]:
    paths = []
    for name, document in (("old", old), ("new", new)):
        path = tmp_path / f"{name}.json"
        path.write_text(render(document))
        paths.append(str(path))
    return paths


OP = {"responses": {"200": {"description": "OK"}}}


def test_diff_exits_1_on_a_breaking_change(tmp_path: Path) -> None:
    old, new = _documents(tmp_path, {"paths": {"/v1/a": {"get": OP}}}, {"paths": {}})
    assert main(["diff", old, new]) == 1


def test_diff_exits_0_when_only_compatible_changes_were_made(tmp_path: Path) -> None:
    old, new = _documents(
        tmp_path,
        {"paths": {"/v1/a": {"get": OP}}},
        {"paths": {"/v1/a": {"get": OP}, "/v2/a": {"get": OP}}},
    )
    assert main(["diff", old, new]) == 0


def test_the_package_runs_as_a_module() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tailor.govern", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0 and "openapi" in done.stdout and "diff" in done.stdout
