"""The supervisor's control channel: a Unix socket under the data directory.

A command is one JSON object on one line (``{"command": "rollout", ...}``); the answer is a
stream of JSON lines, each an event (``{"event": "progress", "message": ...}``), ending with
one whose ``event`` is ``"done"`` (the command's result) or ``"error"`` (it could not run).
Commands run one at a time: a second one while the first runs is answered ``"error"``.
They run on one thread that lives as long as the channel, not on the connection's: the
supervisor's children get SIGTERM when the *thread* that started them exits (PR_SET_PDEATHSIG),
and a BFF started by a rollout must outlive the command that started it.

The socket lives in a directory only its owner may enter (mode 0700): whoever reaches it can
restart the platform's BFFs, so it is the owner's, as the processes are.

>>> channel = ControlChannel(tmp / "control", {"ping": lambda req, emit: {"pong": True}})
... # doctest: +SKIP
>>> channel.start(); call(channel.path, {"command": "ping"})  # doctest: +SKIP
{'event': 'done', 'pong': True}
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import socketserver
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

#: The socket's file name in its directory.
SOCKET_NAME = "supervisor.sock"
#: The longest command line accepted (a command is a few keys).
MAX_COMMAND_BYTES = 64 * 1024

Event = dict[str, Any]
Emit = Callable[[Event], None]
#: A command: its request and a way to report progress -> its result.
Handler = Callable[[Event, Emit], Event]


class ControlChannel:
    """Serves ``handlers`` (command name -> handler) on ``directory/supervisor.sock``.

    >>> ControlChannel(Path("/tmp/demo/control"), {}).path.name
    'supervisor.sock'
    """

    def __init__(self, directory: Path, handlers: Mapping[str, Handler]) -> None:
        self.path = directory / SOCKET_NAME
        self.handlers = dict(handlers)
        self._busy = threading.Lock()
        self._runner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="control-command")
        self._server: socketserver.ThreadingUnixStreamServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        directory = self.path.parent
        directory.mkdir(parents=True, exist_ok=True)
        os.chmod(directory, 0o700)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()  # left by a supervisor that was killed
        channel = self

        class Handle(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                channel._serve(self.rfile, self.wfile)

        server = socketserver.ThreadingUnixStreamServer(str(self.path), Handle)
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="control", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        self._runner.shutdown(wait=True)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def _serve(self, rfile: Any, wfile: Any) -> None:
        def emit(event: Event) -> None:
            with contextlib.suppress(OSError):  # the caller went away: the command goes on
                wfile.write(json.dumps(event).encode() + b"\n")
                wfile.flush()

        line = rfile.readline(MAX_COMMAND_BYTES + 1)
        try:
            request = json.loads(line)
        except ValueError:
            emit({"event": "error", "message": "a command is one JSON object on one line"})
            return
        command = request.get("command") if isinstance(request, dict) else None
        handler = self.handlers.get(command) if isinstance(command, str) else None
        if handler is None:
            known = ", ".join(sorted(self.handlers))
            emit({"event": "error", "message": f"unknown command {command!r}; known: {known}"})
            return
        if not self._busy.acquire(blocking=False):
            emit({"event": "error", "message": "another command is running; try again later"})
            return
        try:
            result = self._runner.submit(handler, request, _progress(emit)).result()
            final: Event = {"event": "done", **result}
        except (ValueError, TypeError) as exc:  # a bad argument, named by the handler
            final = {"event": "error", "message": str(exc)}
        finally:
            # Free before answering: a caller's next command may follow the answer at once.
            self._busy.release()
        emit(final)


def _progress(emit: Emit) -> Emit:
    def progress(event: Event) -> None:
        emit({"event": "progress", **event})

    return progress


def call(path: Path, request: Event, on_progress: Callable[[Event], None] | None = None) -> Event:
    """Send ``request`` to the channel at ``path``; progress events go to ``on_progress``;
    the final event (``done`` or ``error``). Raises :class:`ConnectionError` when no
    supervisor listens there."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        try:
            sock.connect(str(path))
        except (FileNotFoundError, ConnectionRefusedError) as exc:
            listening = f"no supervisor listens on {path} (is `make demo` running?)"
            raise ConnectionError(listening) from exc
        sock.sendall(json.dumps(request).encode() + b"\n")
        with sock.makefile("rb") as lines:
            for line in lines:
                event: Event = json.loads(line)
                if event.get("event") == "progress":
                    if on_progress is not None:
                        on_progress(event)
                    continue
                return event
    raise ConnectionError(f"the supervisor on {path} closed the channel without an answer")
