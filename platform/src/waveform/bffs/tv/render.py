"""Display text, rendered once at the edge so every TV build shows the same thing."""

from __future__ import annotations


def duration(ms: int) -> str:
    """``m:ss``, or ``h:mm:ss`` from an hour.

    >>> duration(205_000), duration(3_725_000)
    ('3:25', '1:02:05')
    """
    minutes, seconds = divmod(max(ms, 0) // 1000, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


def count(n: int, noun: str) -> str:
    """A count as a TV shows it: short, with its noun.

    >>> count(1, "like"), count(999, "like"), count(1234, "like"), count(2_500_000, "play")
    ('1 like', '999 likes', '1.2K likes', '2.5M plays')
    """
    plural = noun if n == 1 else f"{noun}s"
    for size, suffix in ((1_000_000, "M"), (1_000, "K")):
        if n >= size:
            return f"{n / size:.1f}".removesuffix(".0") + f"{suffix} {plural}"
    return f"{n} {plural}"
