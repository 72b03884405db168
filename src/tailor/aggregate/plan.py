"""Declaring an aggregation: the parts of a response and how each is fetched.

A :class:`Part` is one inward call with its policy. Parts run in parallel unless one ``needs``
another, in which case it starts as soon as what it needs has arrived and reads those results
through :class:`Inputs`. The plan is data, so the upstreams and consumed shapes of every
endpoint can be listed (for config checks, contracts and PII governance) without running it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec

from tailor.errors import ConfigError, TailorError
from tailor.upstream.urls import quote_segment


class UnknownPart(TailorError, LookupError):
    """A part's name read where it has no value: a programming error in the BFF, never a
    failure of a service. A shape read a name that is not in its plan, or a part read the
    result of a part it does not list in ``needs`` (which it must, to be started after it)."""


class Inputs:
    """What a part's path, params and headers are computed from: request variables (the caller's
    id, validated path parameters) and the results of the parts it needs."""

    __slots__ = ("_quoted", "_results", "vars")

    def __init__(self, variables: Mapping[str, str], results: Mapping[str, Any]) -> None:
        self.vars = variables
        self._results = results
        self._quoted: dict[str, str] | None = None

    def __getitem__(self, part: str) -> Any:
        try:
            return self._results[part]
        except KeyError:
            raise UnknownPart(
                f"no result for '{part}' yet: a part reads only the parts it lists in needs"
            ) from None

    @property
    def quoted_vars(self) -> dict[str, str]:
        """The variables, each percent-encoded as one path segment (computed once: every part
        of a plan run shares one Inputs)."""
        if self._quoted is None:
            self._quoted = {k: quote_segment(v) for k, v in self.vars.items()}
        return self._quoted


class _Missing:
    def __repr__(self) -> str:
        return "NO_FALLBACK"


NO_FALLBACK: Any = _Missing()

#: A part's ``timeout_s`` with no limit of its own: every call's timeout is cut to what the
#: endpoint has left, so the call gets exactly that. For a required part, whose loss fails the
#: response anyway, a fixed short timeout only throws away time the endpoint still has. The
#: resilient transport fits the call's retries and hedge inside it.
BUDGET: float = math.inf

#: Who may be served a part's last known good value: one caller, one client app, anyone.
LAST_GOOD_SCOPES = ("user", "app", "public")

PathSpec = str | Callable[[Inputs], str]
ParamSpec = Mapping[str, str | int] | Callable[[Inputs], Mapping[str, str | int] | None]
HeaderSpec = Callable[[Inputs], Sequence[tuple[str, str]]]


@dataclass(frozen=True, slots=True)
class Part:
    """One inward call.

    >>> me = Part("me", "users", "/users/{user_id}", into=dict, timeout_s=0.3)
    >>> me.build_path(Inputs({"user_id": "u 1"}, {}))
    '/users/u%201'

    ``path`` is a template filled from ``Inputs.vars`` (each value percent-encoded as one path
    segment) or a function of the inputs. ``params`` returning ``None`` skips the call and
    yields ``fallback``: nothing to fetch is not a failure. An optional part that fails yields
    ``fallback`` (``None`` when it has none) and is reported as degraded; a required one fails
    the response.

    Resilience: ``idempotent`` overrides what the method says (GET is retried and may be
    hedged; ``idempotent=False`` stops that for a GET with side effects). ``last_good`` (an
    optional part only) keeps the part's last good value per cache scope (``"user"``: per
    caller, ``"app"``: per client app, ``"public"``: shared) and answers with it, marked stale,
    when the call fails; ``fallback`` is used only when there is none.

    ``timeout_s`` is the call's own limit, always cut to what is left of the endpoint's
    deadline; ``timeout_s=BUDGET`` is the remaining deadline itself (retries and a hedge fit
    inside it), so a slow but answering service still makes it.
    """

    name: str
    upstream: str
    path: PathSpec
    into: Any
    params: ParamSpec = field(default_factory=dict)
    needs: tuple[str, ...] = ()
    required: bool = True
    timeout_s: float = 1.0
    fallback: Any = NO_FALLBACK
    headers: HeaderSpec | None = None
    idempotent: bool | None = None
    last_good: str | None = None

    def __post_init__(self) -> None:
        if not self.timeout_s > 0:
            raise ConfigError(f"plan.{self.name}.timeout_s", "must be positive, or BUDGET")
        if self.last_good is None:
            return
        if self.last_good not in LAST_GOOD_SCOPES:
            raise ConfigError(
                f"plan.{self.name}.last_good", f"must be one of {', '.join(LAST_GOOD_SCOPES)}"
            )
        if self.required:
            raise ConfigError(
                f"plan.{self.name}.last_good", "only an optional part can fall back to stale data"
            )

    def build_path(self, inputs: Inputs) -> str:
        if callable(self.path):
            return self.path(inputs)
        return self.path.format_map(inputs.quoted_vars)

    def build_params(self, inputs: Inputs) -> Mapping[str, str | int] | None:
        return self.params(inputs) if callable(self.params) else self.params


@dataclass(frozen=True)
class Plan:
    """The parts of one endpoint and its deadline (the whole budget, shared by all parts)."""

    parts: tuple[Part, ...]
    deadline_s: float = 1.0
    by_name: dict[str, Part] = field(init=False, repr=False)
    order: tuple[Part, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        by_name: dict[str, Part] = {}
        for part in self.parts:
            if part.name in by_name:
                raise ConfigError(f"plan.{part.name}", "two parts share this name")
            by_name[part.name] = part
        for part in self.parts:
            for need in part.needs:
                if need not in by_name:
                    raise ConfigError(f"plan.{part.name}.needs", f"no part named '{need}'")
        object.__setattr__(self, "by_name", by_name)
        object.__setattr__(self, "order", _topological(self.parts, by_name))

    @property
    def upstreams(self) -> set[str]:
        return {part.upstream for part in self.parts}

    def decoders(self) -> dict[str, msgspec.json.Decoder[Any]]:
        return {part.name: msgspec.json.Decoder(part.into) for part in self.parts}


def _topological(parts: tuple[Part, ...], by_name: dict[str, Part]) -> tuple[Part, ...]:
    done: list[Part] = []
    state: dict[str, int] = {}

    def visit(part: Part) -> None:
        mark = state.get(part.name, 0)
        if mark == 2:
            return
        if mark == 1:
            raise ConfigError(f"plan.{part.name}.needs", "parts depend on each other in a cycle")
        state[part.name] = 1
        for need in part.needs:
            visit(by_name[need])
        state[part.name] = 2
        done.append(part)

    for part in parts:
        visit(part)
    return tuple(done)
