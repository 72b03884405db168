"""waveform.control: the supervisor's control channel, on a real Unix socket."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from waveform.control import ControlChannel, Emit, Event, call


@pytest.fixture
def released() -> Iterator[threading.Event]:
    event = threading.Event()
    yield event
    event.set()  # a held command never outlives its test


@pytest.fixture
def started() -> threading.Event:
    return threading.Event()


@pytest.fixture
def channel(
    tmp_path: Path, started: threading.Event, released: threading.Event
) -> Iterator[ControlChannel]:
    def echo(request: Event, emit: Emit) -> Event:
        emit({"message": f"echoing {request['text']}"})
        return {"text": request["text"]}

    def hold(request: Event, emit: Emit) -> Event:
        started.set()
        assert released.wait(10)
        return {}

    def picky(request: Event, emit: Emit) -> Event:
        raise ValueError("picky: 'size' must be a number")

    def where(request: Event, emit: Emit) -> Event:
        return {"thread": threading.get_ident()}

    handlers = {"echo": echo, "hold": hold, "picky": picky, "where": where}
    control = ControlChannel(tmp_path / "control", handlers)
    control.start()
    yield control
    control.stop()


def _raw(path: Path, line: bytes) -> Event:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(str(path))
        sock.sendall(line)
        answer: Event = json.loads(sock.makefile("rb").readline())
    return answer


def test_a_command_streams_its_progress_then_its_result(channel: ControlChannel) -> None:
    progress: list[Event] = []
    answer = call(channel.path, {"command": "echo", "text": "hi"}, progress.append)
    assert progress == [{"event": "progress", "message": "echoing hi"}]
    assert answer == {"event": "done", "text": "hi"}


def test_an_unknown_command_is_an_error_naming_the_known_ones(channel: ControlChannel) -> None:
    answer = call(channel.path, {"command": "reboot"})
    assert answer == {
        "event": "error",
        "message": "unknown command 'reboot'; known: echo, hold, picky, where",
    }


def test_a_line_that_is_not_json_is_an_error(channel: ControlChannel) -> None:
    answer = _raw(channel.path, b"rollout please\n")
    assert answer == {"event": "error", "message": "a command is one JSON object on one line"}


def test_a_bad_argument_is_an_error_with_the_handlers_message(channel: ControlChannel) -> None:
    answer = call(channel.path, {"command": "picky"})
    assert answer == {"event": "error", "message": "picky: 'size' must be a number"}


def test_a_second_command_while_one_runs_is_refused(
    channel: ControlChannel, started: threading.Event, released: threading.Event
) -> None:
    first: list[Event] = []
    runner = threading.Thread(target=lambda: first.append(call(channel.path, {"command": "hold"})))
    runner.start()
    assert started.wait(10)
    second = call(channel.path, {"command": "echo", "text": "hi"})
    released.set()
    runner.join(10)
    assert second == {"event": "error", "message": "another command is running; try again later"}
    assert first == [{"event": "done"}]


def test_only_the_owner_may_enter_the_channels_directory(channel: ControlChannel) -> None:
    assert channel.path.parent.stat().st_mode & 0o777 == 0o700


def test_calling_where_no_supervisor_listens_says_so(tmp_path: Path) -> None:
    with pytest.raises(ConnectionError, match="no supervisor listens on"):
        call(tmp_path / "supervisor.sock", {"command": "echo"})


def test_commands_run_on_one_thread_that_outlives_them(channel: ControlChannel) -> None:
    # A process a command starts gets SIGTERM when the thread that started it exits.
    first = call(channel.path, {"command": "where"})["thread"]
    second = call(channel.path, {"command": "where"})["thread"]
    assert first == second
    assert first in {t.ident for t in threading.enumerate() if t.is_alive()}
