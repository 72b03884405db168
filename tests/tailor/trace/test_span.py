"""Span ids: random, of their width, never repeated across batches or by a forked child."""

from __future__ import annotations

import os

from tailor.trace.span import IdStream


def test_ids_are_hex_of_their_width_and_distinct_across_batches() -> None:
    ids = IdStream(16, batch=8)
    got = [ids.next() for _ in range(100)]
    assert all(len(i) == 16 and int(i, 16) >= 0 for i in got)
    assert len(set(got)) == 100


def test_a_forked_child_does_not_hand_out_its_parent_s_next_ids() -> None:
    ids = IdStream(16, batch=64)
    ids.next()  # a batch read before the fork
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its next id and leave at once
        os.write(write, ids.next().encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        child = pipe.read()
    os.waitpid(pid, 0)
    assert len(child) == 16 and child != ids.next()
