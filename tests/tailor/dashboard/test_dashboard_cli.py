"""The command line: targets from flags and a file; a bad one stops it, naming it."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tailor.__main__ import main as tailor_main
from tailor.dashboard.cli import parse_targets
from tailor.errors import ConfigError


def test_targets_from_a_file_and_the_command_line_are_merged(tmp_path: Path) -> None:
    file = tmp_path / "targets.toml"
    file.write_text('[targets]\nmobile = "http://127.0.0.1:8181"\n')
    assert parse_targets(["web=http://127.0.0.1:8182"], str(file)) == {
        "mobile": "http://127.0.0.1:8181",
        "web": "http://127.0.0.1:8182",
    }


def test_a_targets_file_may_list_the_admin_urls_of_a_bffs_workers(tmp_path: Path) -> None:
    file = tmp_path / "targets.toml"
    file.write_text('[targets]\nmobile = ["http://127.0.0.1:8181", "http://127.0.0.1:8182"]\n')
    assert parse_targets([], str(file)) == {"mobile": "http://127.0.0.1:8181,http://127.0.0.1:8182"}


def test_a_target_that_is_not_an_http_url_stops_naming_it() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_targets(["mobile=127.0.0.1:8181"])
    assert caught.value.key == "targets.mobile"


def test_no_target_at_all_stops_naming_targets() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_targets([])
    assert caught.value.key == "targets"


def test_the_tailor_command_exits_2_on_a_bad_target(capsys: pytest.CaptureFixture[str]) -> None:
    assert tailor_main(["dashboard", "--target", "mobile"]) == 2
    assert "targets.mobile" in capsys.readouterr().err


def test_the_tailor_command_exits_2_naming_its_tools_for_an_unknown_one(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert tailor_main(["dashbored"]) == 2
    assert "dashboard" in capsys.readouterr().err


def test_a_taken_port_stops_it_with_a_message_not_a_traceback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = tailor_main(["dashboard", "--port", str(port), "--target", "m=http://127.0.0.1:1"])
    assert code == 1
    err = capsys.readouterr().err
    assert f"cannot listen on 127.0.0.1:{port}" in err and "Traceback" not in err
