"""tailor.observe.admin: the admin listener on a socket it binds or one handed down."""

from __future__ import annotations

import contextlib
import socket
import urllib.request
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry

from tailor.observe.admin import AdminServer
from tailor.serve.inherited import LISTEN_FDS_ENV


@pytest.fixture
def held(monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    """A listening socket handed down as a supervisor would (``$TAILOR_LISTEN_FDS``)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        # As in a child process: the server owns (and closes) a descriptor of its own.
        handed = sock.dup()
        monkeypatch.setenv(LISTEN_FDS_ENV, str(handed.fileno()))
        yield sock
        with contextlib.suppress(OSError):  # closed already by the server that took it
            handed.close()


def test_with_inherit_the_admin_listener_serves_the_socket_handed_down_for_its_port(
    held: socket.socket,
) -> None:
    port = held.getsockname()[1]
    server = AdminServer("127.0.0.1", port, CollectorRegistry(), inherit=True)
    server.start()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as resp:
            assert (resp.status, resp.read()) == (200, b'{"status":"ok"}')
        assert server.port == port
    finally:
        server.stop()


def test_without_inherit_the_admin_listener_binds_its_port_itself(held: socket.socket) -> None:
    with pytest.raises(OSError):  # the handed-down socket holds it
        AdminServer("127.0.0.1", held.getsockname()[1], CollectorRegistry())
