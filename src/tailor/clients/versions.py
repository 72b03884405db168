"""App versions and version ranges, as installed apps number their builds.

An app build is numbered with one to four dot-separated numbers (``4``, ``4.12``, ``4.12.0``,
``4.12.0.881``). They compare number by number, missing ones counting as zero, so ``4.2`` and
``4.2.0`` are the same build. This is not PEP 440 (no pre-releases, epochs or local parts):
an app store build number is only numbers, and reading ``4.2rc1`` as a pre-release would be a
guess.

A range is comparisons joined by commas, all of which must hold:

>>> VersionRange.parse(">=3.0, <3.4").contains(parse_version("3.2.9"))
True
>>> VersionRange.parse(">=3.0, <3.4").contains(parse_version("3.4"))
False
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from typing import Annotated

import msgspec

#: One to four dot-separated numbers of at most six digits each.
VERSION_PATTERN = r"^[0-9]{1,6}(\.[0-9]{1,6}){0,3}$"
Version = Annotated[str, msgspec.Meta(pattern=VERSION_PATTERN)]
#: A version padded to four numbers, what comparisons use.
Numbers = tuple[int, int, int, int]

_VERSION = re.compile(VERSION_PATTERN)
_CLAUSE = re.compile(r"^\s*(>=|<=|==|!=|>|<)\s*(\S+)\s*$")
_OPERATORS: dict[str, Callable[[Numbers, Numbers], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    "<": operator.lt,
}


def parse_version(text: str) -> Numbers | None:
    """A dotted version as four numbers to compare, or None when it is not one.

    >>> parse_version("4.12"), parse_version("4.x"), parse_version("٤.٢")
    ((4, 12, 0, 0), None, None)
    """
    if not _VERSION.match(text) or not text.isascii():
        return None
    numbers = [int(p) for p in text.split(".")]
    numbers += [0] * (4 - len(numbers))
    return (numbers[0], numbers[1], numbers[2], numbers[3])


class VersionRange:
    """Versions that satisfy every comparison of a range such as ``>=3.0, <3.4``.

    >>> VersionRange.parse("==4.2").contains(parse_version("4.2.0"))
    True
    """

    __slots__ = ("_clauses", "text")

    def __init__(self, text: str, clauses: tuple[tuple[Callable[..., bool], Numbers], ...]) -> None:
        self.text = text
        self._clauses = clauses

    @classmethod
    def parse(cls, text: str) -> VersionRange:
        """Raises ValueError saying what is wrong (an operator missing, a bad version)."""
        clauses = []
        for clause in text.split(","):
            found = _CLAUSE.match(clause)
            if found is None:
                raise ValueError(
                    f"'{clause.strip()}' is not a comparison such as >=3.0 (use >=, >, <=, <, "
                    "==, != and join them with commas)"
                )
            numbers = parse_version(found.group(2))
            if numbers is None:
                raise ValueError(f"'{found.group(2)}' is not a dotted version such as 4.12.0")
            clauses.append((_OPERATORS[found.group(1)], numbers))
        return cls(text, tuple(clauses))

    def contains(self, version: Numbers | None) -> bool:
        """Whether ``version`` is in the range (an unknown version never is)."""
        if version is None:
            return False
        return all(compare(version, bound) for compare, bound in self._clauses)

    def __repr__(self) -> str:
        return f"VersionRange({self.text!r})"
