"""The worker's garbage collector, tuned once after startup.

Two measured reasons (``server.gc_freeze``, ``server.gc_threshold``; the figures are in
docs/benchmarks.md, "Garbage collection was the tail"):

- A full (generation 2) collection walks every object the worker holds: modules, config,
  compiled routes, key sets, caches. In the mobile BFF that was a stall every few thousand
  requests, landing straight in p99. ``gc.freeze()`` after startup moves all of that out of
  the collector's reach, and a full collection becomes short.
- A request keeps a few thousand container objects alive while in flight, so with Python's
  default young-generation threshold (700) young collections ran every few homes and took a
  share of each home's CPU, while nearly everything they visited was freed by reference
  counting anyway. At 7000 they are rare. Reference cycles are still collected; they only wait
  a little longer.
- ... except that young collections are counted in objects allocated and not yet freed, and a
  healthy request frees what it allocated: 9,000 homes in a row left the young generation's
  count where it was (2,687 to 2,842, no collection). The cycles an unusual stretch leaves
  behind (a cancelled task, an exception and its traceback's frames, holding whatever their
  locals held) then wait for a collection that never comes, and the resident set keeps them.
  So a worker also runs a full collection every ``server.gc_interval_s`` (10 s; one takes
  about 0.4 ms once startup's objects are frozen): whatever a burst of failures left is freed
  within that long.
"""

from __future__ import annotations

import asyncio
import gc

from tailor.config import Server


def tune_collector(settings: Server) -> None:
    """Apply the worker's collector settings; call once, after startup.

    >>> tune_collector(Server(gc_freeze=False, gc_threshold=700))
    """
    if settings.gc_threshold != gc.get_threshold()[0]:
        _, middle, old = gc.get_threshold()
        gc.set_threshold(settings.gc_threshold, middle, old)
    if settings.gc_freeze:
        gc.collect()  # what is garbage now is not frozen with the rest
        gc.freeze()


async def collect_every(interval_s: float) -> None:
    """Run a full collection every ``interval_s`` seconds, until cancelled (a worker's
    background job; see the module doc)."""
    while True:
        await asyncio.sleep(interval_s)
        gc.collect()
