"""Per-client-version workarounds: a named change applied for the builds that need it.

Old builds stay installed for years. When one of them depends on something the BFF no longer
sends (a field since renamed, a page larger than it can draw), the fix is a rule in config,
not a branch in a handler:

    [clients.workarounds.android-duration-s]
    app = "waveform"
    platform = "android"
    versions = ">=3.0, <3.4"
    routes = ["/v1/home"]
    transform = "restore_duration_s"       # registered by the BFF: bff.add_transform(...)
    owner = "mobile-android@waveform.example"
    expires = 2027-06-30

A rule is compiled when the chain is built (an unknown transform, a bad range or an unknown
route stops startup naming the key) and matched once per distinct client, when it is first
identified, so a request only reads the rules its client already matched. Every rule has an
owner and an expiry date: :func:`expired` lists the rules past it, which a BFF's test suite
asserts is empty, so a forgotten workaround fails the build instead of living forever.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Annotated

import msgspec

from tailor.clients.versions import Numbers, VersionRange
from tailor.errors import ConfigError
from tailor.http import Request, Response

_Name = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
_Match = Annotated[str, msgspec.Meta(pattern=r"^(\*|[a-z][a-z0-9._-]{0,63})$")]


class Workaround(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """``clients.workarounds.<name>``: builds of ``app`` on ``platform`` (``*``: any) whose
    version is in ``versions`` get ``transform`` on ``routes`` (empty: every route)."""

    transform: _Name
    versions: str
    owner: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    expires: datetime.date
    app: _Match = "*"
    platform: _Match = "*"
    routes: list[str] = msgspec.field(default_factory=list)
    reason: str = ""

    def __post_init__(self) -> None:
        try:
            VersionRange.parse(self.versions)
        except ValueError as exc:
            raise ValueError(f"versions {exc}") from None


@dataclass(frozen=True, slots=True)
class Transform:
    """What a workaround does, registered by the BFF under a name
    (``bff.add_transform("cap_page_size", Transform(request=...))``). ``request`` runs before
    the rest of the chain (it may change the request: cap a page size); ``response`` runs on
    the way back on a 2xx answer and returns the response to send (restore a dropped field).
    Both see only requests from the clients the rule names.

    >>> Transform(response=lambda response, request: response).request is None
    True
    """

    request: Callable[[Request], None] | None = None
    response: Callable[[Response, Request], Response] | None = None


class CompiledRule:
    """A :class:`Workaround` ready to match: its range parsed, its transform found."""

    __slots__ = ("app", "name", "platform", "range", "routes", "transform")

    def __init__(self, name: str, rule: Workaround, transform: Transform) -> None:
        self.name = name
        self.app = rule.app
        self.platform = rule.platform
        self.range = VersionRange.parse(rule.versions)
        #: Route templates the rule applies to; None: every route.
        self.routes = frozenset(rule.routes) or None
        self.transform = transform

    def matches(self, app: str, platform: str, numbers: Numbers) -> bool:
        return (
            (self.app == "*" or self.app == app)
            and (self.platform == "*" or self.platform == platform)
            and self.range.contains(numbers)
        )

    def applies_to(self, template: str) -> bool:
        return self.routes is None or template in self.routes


def compile_rules(
    rules: dict[str, Workaround], transforms: dict[str, Transform], templates: Iterable[str]
) -> tuple[CompiledRule, ...]:
    """Every rule compiled, in config order. A transform the BFF did not register or a route
    it does not have stops startup naming the key."""
    known = set(templates)
    compiled = []
    for name, rule in rules.items():
        at = f"clients.workarounds.{name}"
        transform = transforms.get(rule.transform)
        if transform is None:
            registered = ", ".join(sorted(transforms)) or "none"
            raise ConfigError(
                f"{at}.transform",
                f"no transform named '{rule.transform}' is registered (registered: {registered})",
            )
        for template in rule.routes:
            if template not in known:
                raise ConfigError(f"{at}.routes", f"no route has the template '{template}'")
        compiled.append(CompiledRule(name, rule, transform))
    return tuple(compiled)


def compile_clients(
    deprecations: Iterable[str],
    rules: dict[str, Workaround],
    transforms: dict[str, Transform],
    templates: Iterable[str],
) -> tuple[CompiledRule, ...]:
    """The ``clients`` table checked against the BFF (a deprecation names one of its routes;
    every rule compiles, see :func:`compile_rules`): what startup refuses, naming the key.
    The server's parent process checks it before forking workers; the stage compiles it."""
    known = set(templates)
    for template in deprecations:
        if template not in known:
            raise ConfigError(f"clients.deprecations.{template}", "no route has this template")
    return compile_rules(rules, transforms, known)


def expired(rules: dict[str, Workaround], today: datetime.date) -> list[str]:
    """The names of the rules whose expiry date is ``today`` or earlier, with their owners.

    >>> rule = Workaround("noop", ">=1", "team@example.com", datetime.date(2026, 1, 31))
    >>> expired({"old": rule}, datetime.date(2026, 2, 1))
    ['old (owner team@example.com, expired 2026-01-31)']
    """
    return [
        f"{name} (owner {rule.owner}, expired {rule.expires})"
        for name, rule in rules.items()
        if rule.expires <= today
    ]
