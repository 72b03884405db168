"""Free ports for a platform started on ephemeral ports (tests, ``demo --ephemeral``).

A port is chosen, released, and bound again by the component a moment later. Asking the kernel
for port 0 hands out a port from its ephemeral range, the same range it draws the source ports
of outgoing connections from: in the seconds a platform takes to start, one of its own
connections (or any other process's) can take the chosen port first, and the component then
fails to start ("port in use"). Ports are therefore drawn from below the ephemeral range, where
the kernel never assigns one on its own; each is checked by binding it, all held at once so they
are distinct.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

HOST = "127.0.0.1"
#: Where the kernel's ephemeral range is read from, and what is assumed when it cannot be.
RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
DEFAULT_EPHEMERAL_LOW = 32768
#: The lowest port drawn: above the fixed ports of the demo and of common local services.
LOWEST = 20000


def ephemeral_low() -> int:
    """The first port of the kernel's ephemeral range."""
    try:
        return int(RANGE_FILE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return DEFAULT_EPHEMERAL_LOW


def free_ports(count: int) -> list[int]:
    """``count`` distinct ports on loopback that were free a moment ago, none of them in the
    kernel's ephemeral range (when that range leaves room below it).

    >>> ports = free_ports(3)
    >>> len(set(ports)) == 3 and all(p < ephemeral_low() for p in ports)
    True
    """
    high = ephemeral_low()
    if high - LOWEST < 4 * count:
        return _kernel_ports(count)
    socks: list[socket.socket] = []
    try:
        for port in random.sample(range(LOWEST, high), high - LOWEST):
            if len(socks) == count:
                break
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                s.bind((HOST, port))
            except OSError:
                s.close()
                continue
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _kernel_ports(count: int) -> list[int]:
    """Ports the kernel hands out for port 0 (all bound at once, so they are distinct)."""
    socks = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((HOST, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()
