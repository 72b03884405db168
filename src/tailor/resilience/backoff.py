"""Exponential backoff with full jitter (AWS architecture blog, "Exponential Backoff And
Jitter"): the wait before retry ``n`` is uniform in ``[0, min(cap, base * 2**(n-1))]``, which
spreads the retries of many callers instead of synchronising them into waves."""

from __future__ import annotations

import random


def full_jitter(retry: int, base_s: float, cap_s: float, rng: random.Random | None = None) -> float:
    """
    >>> 0 <= full_jitter(1, 0.025, 0.25) <= 0.025
    True
    """
    ceiling = min(cap_s, base_s * (2 ** (retry - 1)))
    return (rng or random).uniform(0, ceiling)
