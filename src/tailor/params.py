"""Typed query and path parameters: a malformed one is a 400 that names it."""

from __future__ import annotations

import re
from dataclasses import dataclass

from tailor.errors import BadRequest

# Ids in a path are opaque tokens. Anything else (dots, slashes, percent-escapes) is refused
# before it can reach an upstream path.
ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


@dataclass(frozen=True, slots=True)
class Int:
    """An integer query parameter within ``[low, high]``, ``default`` when absent."""

    default: int
    low: int = 0
    high: int = 2**31 - 1

    def parse(self, name: str, raw: str | None) -> int:
        if raw is None or raw == "":
            return self.default
        if not raw.isdigit() or len(raw) > 10:
            raise BadRequest(f"query parameter '{name}' must be an integer", parameter=name)
        value = int(raw)
        if not self.low <= value <= self.high:
            raise BadRequest(
                f"query parameter '{name}' must be between {self.low} and {self.high}",
                parameter=name,
            )
        return value


@dataclass(frozen=True, slots=True)
class Token:
    """An opaque token (a cursor, say): printable, bounded, ``None`` when absent."""

    max_length: int = 256
    pattern: re.Pattern[str] = re.compile(r"[A-Za-z0-9_=.:-]+")

    def parse(self, name: str, raw: str | None) -> str | None:
        if raw is None or raw == "":
            return None
        if len(raw) > self.max_length or not self.pattern.fullmatch(raw):
            raise BadRequest(f"query parameter '{name}' is malformed", parameter=name)
        return raw


QuerySpec = dict[str, Int | Token]


def parse_query(spec: QuerySpec, query: dict[str, str]) -> dict[str, object]:
    """Parse every declared parameter; undeclared ones are ignored."""
    return {name: kind.parse(name, query.get(name)) for name, kind in spec.items()}


def check_path_param(name: str, value: str) -> None:
    if not ID_PATTERN.fullmatch(value):
        raise BadRequest(f"path parameter '{name}' is malformed", parameter=name)
