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
"""

from __future__ import annotations

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
