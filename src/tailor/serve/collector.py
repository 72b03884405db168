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
- Freed is not returned: buffers over 512 bytes (bodies, upstream answers) come from the C
  library's malloc, which keeps the pages a burst of requests in flight used, scattered among
  those still in use, so the resident set stepped up with each burst and stayed there (the soak
  in issue 19: 5xx bursts with steps of +14.9%). After each periodic collection the worker asks
  glibc to give free pages back (``malloc_trim(0)``): a few microseconds of CPU on a steady heap,
  about 8 ms once after a 120 MB burst (measured in-process). Where the C library has no
  ``malloc_trim`` (musl, macOS) nothing is asked.
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
from collections.abc import Callable

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


def _malloc_trim() -> Callable[[], None]:
    """glibc's ``malloc_trim(0)``, or a no-op where the C library has none."""
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return lambda: None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int

    def release() -> None:
        trim(0)

    return release


#: Give the pages malloc holds free back to the system (see the module doc).
release_free_memory = _malloc_trim()


def collect() -> None:
    """One full collection, and the memory it (and everything since the last) freed given
    back to the system."""
    gc.collect()
    release_free_memory()


async def collect_every(interval_s: float) -> None:
    """Run :func:`collect` every ``interval_s`` seconds, until cancelled (a worker's
    background job; see the module doc)."""
    while True:
        await asyncio.sleep(interval_s)
        collect()
