"""Deprecating a route: what its callers are told, and what it answers after its sunset.

A deprecated route keeps answering, with three headers on every response:

    Deprecation: @1796083200                          RFC 9745: since when (a structured date)
    Sunset: Wed, 30 Jun 2027 00:00:00 GMT             RFC 8594: when it stops answering
    Link: <https://...>; rel="deprecation"; type="text/html"    what to use instead, and why

From its sunset on it answers ``410 Gone`` (problem+json, the same Link). A sunset is never
before the deprecation date: such a config stops startup naming the key. Before a sunset is
set or brought forward, ``python -m tailor.govern sunset-check`` reads who still calls the
route from the BFF's metrics and refuses while its share of traffic is above
``max_share_at_sunset``.
"""

from __future__ import annotations

import calendar
import datetime
from email.utils import formatdate
from typing import Annotated

import msgspec

from tailor.http import Response
from tailor.problem import problem_response

_URL = Annotated[str, msgspec.Meta(pattern=r"^https?://[^\s<>\"]+$")]
_Share = Annotated[float, msgspec.Meta(ge=0, le=1)]


class Deprecation(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """``clients.deprecations."<route>"``: the route is deprecated since ``deprecated`` (the
    start of that day, UTC), gone from ``sunset`` on, and ``link`` says what replaces it.

    >>> import datetime
    >>> d = Deprecation(datetime.date(2026, 12, 1), "https://example.com/home-v2")
    >>> d.headers()[0]
    ('deprecation', '@1796083200')
    """

    deprecated: datetime.date
    link: _URL
    sunset: datetime.date | None = None
    #: ``sunset-check`` refuses a sunset while the route has more than this share of the
    #: BFF's calls (0.01: one call in a hundred).
    max_share_at_sunset: _Share = 0.01

    def __post_init__(self) -> None:
        if self.sunset is not None and self.sunset < self.deprecated:
            raise ValueError(
                f"sunset must not be before deprecated ({self.sunset} < {self.deprecated})"
            )

    @property
    def deprecated_at(self) -> int:
        """The deprecation date as Unix seconds (midnight UTC)."""
        return _seconds(self.deprecated)

    @property
    def sunset_at(self) -> int | None:
        return None if self.sunset is None else _seconds(self.sunset)

    def headers(self) -> tuple[tuple[str, str], ...]:
        """The headers every response of the route carries."""
        out = [
            ("deprecation", f"@{self.deprecated_at}"),
            ("link", f'<{self.link}>; rel="deprecation"; type="text/html"'),
        ]
        if self.sunset_at is not None:
            out.insert(1, ("sunset", formatdate(self.sunset_at, usegmt=True)))
        return tuple(out)

    def gone(self, template: str, request_id: str) -> Response:
        """The answer once the sunset has passed."""
        return problem_response(
            410,
            f"{template} was retired on {self.sunset}; see {self.link}",
            headers=self.headers(),
            request_id=request_id,
        )


def _seconds(day: datetime.date) -> int:
    return calendar.timegm(day.timetuple())
