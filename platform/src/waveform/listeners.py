"""The BFFs' listening sockets, held by the supervisor across the builds it starts.

A socket bound once and handed to every process started for a BFF (``pass_fds`` and
``$TAILOR_LISTEN_FDS``: :mod:`tailor.serve.inherited`) never stops listening between builds,
and a connection the old build never took waits in its one queue for the new: what lets
:mod:`waveform.rollout` swap builds with nothing refused (docs/rollout.md).
"""

from __future__ import annotations

import socket
from collections.abc import Iterable, Sequence

from tailor.serve.inherited import LISTEN_FDS_ENV

#: The accept queue of a held listening socket (tailor's default server.backlog).
BACKLOG = 4096


class Listeners:
    """The BFFs' listening sockets, bound once by the supervisor and handed to every process
    it starts for them (``$TAILOR_LISTEN_FDS``), so a port never stops listening between
    builds and a connection the old build never took waits in the one queue for the new.

    >>> held = Listeners("127.0.0.1")
    >>> [fd] = held.fds([0])  # port 0: any free port, for the example
    >>> held.env([fd]) == {"TAILOR_LISTEN_FDS": str(fd)}
    True
    >>> held.close()
    """

    def __init__(self, host: str) -> None:
        self.host = host
        self._socks: dict[int, socket.socket] = {}

    def fds(self, ports: Iterable[int]) -> list[int]:
        """The descriptors of the sockets listening on ``ports`` (bound on first use;
        :class:`OSError` when a port is taken)."""
        fds = []
        for port in ports:
            sock = self._socks.get(port)
            if sock is None:
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    sock.bind((self.host, port))
                except OSError:
                    sock.close()
                    raise
                sock.listen(BACKLOG)
                self._socks[port] = sock
            fds.append(sock.fileno())
        return fds

    def holds(self, port: int) -> bool:
        return port in self._socks

    @staticmethod
    def env(fds: Sequence[int]) -> dict[str, str]:
        return {LISTEN_FDS_ENV: ",".join(map(str, fds))}

    def close(self) -> None:
        for sock in self._socks.values():
            sock.close()
        self._socks.clear()
