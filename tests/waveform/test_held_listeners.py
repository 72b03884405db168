"""waveform.listeners: the BFFs' sockets the supervisor holds across builds."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from waveform.listeners import Listeners
from waveform.supervisor import HOST, free_ports


@pytest.fixture
def held() -> Iterator[Listeners]:
    listeners = Listeners(HOST)
    yield listeners
    listeners.close()


def test_a_port_is_bound_once_and_the_same_socket_is_handed_out_each_time(
    held: Listeners,
) -> None:
    (port,) = free_ports(1)
    first = held.fds([port])
    assert held.fds([port]) == first
    assert held.holds(port)
    with socket.create_connection((HOST, port), timeout=5):  # it listens meanwhile
        pass


def test_a_port_taken_by_another_socket_is_an_error(held: Listeners) -> None:
    with socket.socket() as other:
        other.bind((HOST, 0))
        other.listen()
        port = other.getsockname()[1]
        with pytest.raises(OSError):
            held.fds([port])
    assert not held.holds(port)
