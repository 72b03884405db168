"""Ports for an ephemeral platform come from below the kernel's ephemeral range."""

from __future__ import annotations

import socket

from waveform.ports import HOST, ephemeral_low, free_ports


def test_free_ports_are_never_in_the_range_outgoing_connections_draw_from() -> None:
    ports = free_ports(30)
    assert len(set(ports)) == 30
    assert all(port < ephemeral_low() for port in ports)


def test_a_port_in_use_is_never_handed_out() -> None:
    taken = [socket.socket() for _ in range(5)]
    try:
        for s in taken:
            s.bind((HOST, free_ports(1)[0]))
        in_use = {s.getsockname()[1] for s in taken}
        for _ in range(20):
            assert not in_use & set(free_ports(50))
    finally:
        for s in taken:
            s.close()
