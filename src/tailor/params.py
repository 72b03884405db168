"""Typed query and path parameters: a malformed one is a 400 that names it.

A route declares its query parameters as a :class:`Query` class; the handler stage refuses a
malformed value (400 naming the parameter) before the handler runs, and the handler reads the
parsed values with their types (mypy sees ``int``, ``str | None``, ``bool``):

>>> class Search(Query):
...     q = Token(max_length=64)
...     limit = Int(20, 1, 50)
...     exact = Bool()
>>> params = Search.parse({"q": "drum", "limit": "5"})
>>> params.q, params.limit, params.exact
('drum', 5, False)
>>> Search.parse({"limit": "500"})
Traceback (most recent call last):
...
tailor.errors.BadRequest: query parameter 'limit' must be between 1 and 50
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar, overload

from tailor.errors import BadRequest

if TYPE_CHECKING:
    from typing import Self

    from tailor.http import Request

# Ids in a path are opaque tokens. Anything else (dots, slashes, percent-escapes) is refused
# before it can reach an upstream path.
ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")

T = TypeVar("T")


class Param(Generic[T]):
    """A kind of query parameter: ``parse`` turns the raw value (``None`` when absent) into a
    ``T`` or raises :class:`~tailor.errors.BadRequest` naming the parameter. As a class
    attribute of a :class:`Query`, an instance reads as the parsed ``T``."""

    __slots__ = ()

    def parse(self, name: str, raw: str | None) -> T:
        raise NotImplementedError

    def schema(self) -> dict[str, Any]:
        """What ``parse`` accepts, as a JSON Schema (the route's OpenAPI parameter)."""
        return {"type": "string"}

    @overload
    def __get__(self, obj: None, owner: type[Any]) -> Self: ...
    @overload
    def __get__(self, obj: Query, owner: type[Any]) -> T: ...
    def __get__(self, obj: Query | None, owner: type[Any]) -> Self | T:
        # Only reached on the class: a Query instance holds each parsed value in its own
        # __dict__, which shadows this (non-data) descriptor.
        if obj is None:
            return self
        raise AttributeError("a Query is built by Query.parse or Query.of")


@dataclass(frozen=True, slots=True)
class Int(Param[int]):
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

    def schema(self) -> dict[str, Any]:
        return {"type": "integer", "minimum": self.low, "maximum": self.high,
                "default": self.default}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Token(Param[str | None]):
    """An opaque token (a cursor, say): printable, bounded, ``None`` when absent."""

    max_length: int = 256
    pattern: re.Pattern[str] = re.compile(r"[A-Za-z0-9_=.:-]+")

    def parse(self, name: str, raw: str | None) -> str | None:
        if raw is None or raw == "":
            return None
        if len(raw) > self.max_length or not self.pattern.fullmatch(raw):
            raise BadRequest(f"query parameter '{name}' is malformed", parameter=name)
        return raw

    def schema(self) -> dict[str, Any]:
        return {"type": "string", "maxLength": self.max_length,
                "pattern": f"^{self.pattern.pattern}$"}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Bool(Param[bool]):
    """A flag: ``true``/``1`` or ``false``/``0``, ``default`` when absent."""

    default: bool = False

    def parse(self, name: str, raw: str | None) -> bool:
        if raw is None or raw == "":
            return self.default
        if raw in ("true", "1"):
            return True
        if raw in ("false", "0"):
            return False
        raise BadRequest(f"query parameter '{name}' must be true or false", parameter=name)

    def schema(self) -> dict[str, Any]:
        return {"type": "boolean", "default": self.default}


QuerySpec = dict[str, Param[Any]]


class Query:
    """The declared query parameters of a route, as a class of :class:`Param` attributes;
    an instance holds the parsed values (see the module's example). Parameters a route does
    not declare are ignored."""

    spec: ClassVar[QuerySpec] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.spec = {
            name: value
            for klass in reversed(cls.__mro__)
            for name, value in vars(klass).items()
            if isinstance(value, Param)
        }

    def __init__(self, values: Mapping[str, object]) -> None:
        self.__dict__.update(values)

    @classmethod
    def parse(cls, query: Mapping[str, str]) -> Self:
        """Parse raw query values (400 naming the first malformed one)."""
        return cls(parse_query(cls.spec, query))

    @classmethod
    def of(cls, request: Request) -> Self:
        """This request's parameters: as the handler stage parsed them when the route
        declared this class, else parsed here."""
        route = request.route
        if route is not None and route.query is cls.spec:
            return cls(request.parsed_query)
        return cls.parse(request.query)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.__dict__!r})"


#: What a route's ``query=`` takes: a :class:`Query` class, or a dict of parameter kinds.
QueryDeclaration = type[Query] | Mapping[str, Param[Any]]


def query_spec(declared: QueryDeclaration | None) -> QuerySpec:
    """The parameter kinds by name of a route's ``query=`` (a Query class keeps its own, so
    :meth:`Query.of` can tell the handler stage parsed it)."""
    if declared is None:
        return {}
    if isinstance(declared, type):
        return declared.spec
    return dict(declared)


def parse_query(spec: QuerySpec, query: Mapping[str, str]) -> dict[str, object]:
    """Parse every declared parameter; undeclared ones are ignored."""
    return {name: kind.parse(name, query.get(name)) for name, kind in spec.items()}


#: What :func:`check_path_param` accepts, as a JSON Schema.
PATH_PARAM_SCHEMA: dict[str, Any] = {"type": "string", "pattern": f"^{ID_PATTERN.pattern}$"}


def check_path_param(name: str, value: str) -> None:
    if not ID_PATTERN.fullmatch(value):
        raise BadRequest(f"path parameter '{name}' is malformed", parameter=name)
