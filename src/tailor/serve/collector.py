"""The worker's garbage collector, tuned once after startup.

Two measured reasons (``server.gc_freeze``, ``server.gc_threshold``; figures from the mobile
home in-process over real sockets, 16 homes in flight, docs/benchmarks.md):

- A full (generation 2) collection walks every object the worker holds: modules, config,
  compiled routes, key sets, caches. In the mobile BFF one took about 30 ms, a stall every few
  thousand requests that lands straight in p99. ``gc.freeze()`` after startup moves all of that
  out of the collector's reach; a full collection then took about 0.4 ms.
- A request keeps a few thousand container objects alive while in flight, so with Python's
  default young-generation threshold (700) a collection ran every ~15 homes and cost about 20 us
  of CPU per home, while nearly everything it visited was freed by reference counting anyway.
  At 7000, collections became rare and the CPU per home dropped by about 5%. Reference cycles
  are still collected; they only wait a little longer.
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
