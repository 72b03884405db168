"""Listening sockets a supervisor hands down to the processes it starts.

A supervisor that binds a BFF's ports itself and passes the sockets to every build it starts
(their descriptors inherited, named in ``$TAILOR_LISTEN_FDS``) lets a new build take the ports
over with no moment when nobody listens: docs/rollout.md. tailor's server
(:mod:`tailor.serve.workers`) and admin listener (:mod:`tailor.observe.admin`) serve a
handed-down socket on their ``host:port`` instead of binding one.
"""

from __future__ import annotations

import os
import socket

from tailor.errors import ConfigError

#: The variable naming the handed-down descriptors, comma-separated.
LISTEN_FDS_ENV = "TAILOR_LISTEN_FDS"


def inherited_listener(host: str, port: int) -> socket.socket | None:
    """The listening socket on ``host:port`` among those a supervisor handed down
    (``$TAILOR_LISTEN_FDS``: descriptors, comma-separated), or None.

    A supervisor that holds a BFF's listening socket itself and passes it to each build it
    starts lets a new build take the port over with no moment when nobody listens: old and
    new processes accept from the one queue, and a connection the old one never took waits
    there for the new one (SO_REUSEPORT would give each process a queue of its own, and
    closing one drops what waits in it). docs/rollout.md.
    """
    found = None
    for raw in os.environ.get(LISTEN_FDS_ENV, "").split(","):
        if not raw.strip():
            continue
        try:
            sock = socket.socket(fileno=int(raw))
        except (ValueError, OSError) as exc:
            raise ConfigError(LISTEN_FDS_ENV, f"{raw!r} is not a listening socket") from exc
        if found is None and sock.getsockname()[:2] == (host, port):
            found = sock
        else:
            sock.detach()  # not ours to close: another listener of this process may be it
    return found
