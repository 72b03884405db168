"""Who is calling: the app, its platform and its version, parsed once per request.

An installed app says what it is in its user agent (``Waveform/4.12.0 (Android 14; Pixel
8)``) or in a header of its own (``X-Client-Version: 4.12.0``, or the same
``app/version (platform)`` form); a BFF's config says which (:class:`ClientSettings`). The
grammar is the first product of a user agent (RFC 9110 s10.1.5) and its comment:

    [app "/"] version [" (" platform [...] ")"]

The app must be one this BFF knows (``clients.apps``; a bare version is ``clients.app``), the
platform one of ``clients.platforms`` (matched by the comment's first word), the version one
to four dot-separated numbers. Anything else, a browser's user agent or a malformed header,
is the :data:`UNKNOWN` client: never an error, because a client's self-description is a hint
for workarounds and statistics, not a credential.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Literal

import msgspec

from tailor.clients.deprecation import Deprecation
from tailor.clients.versions import Numbers, parse_version
from tailor.clients.workarounds import Workaround
from tailor.validation import Count

if TYPE_CHECKING:
    from tailor.clients.workarounds import CompiledRule

_Name = Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9._-]{0,63}$")]
# A name or empty, in one pattern: msgspec takes a str union member by its type alone, so
# ``_Name | Literal[""]`` refused "" as not matching the name's pattern.
_NameOrEmpty = Annotated[str, msgspec.Meta(pattern=r"^([a-z][a-z0-9._-]{0,63})?$")]
_Header = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9-]{1,64}$")]
_CLIENT = re.compile(
    r"\s*(?:(?P<app>[A-Za-z][A-Za-z0-9._-]{0,63})/)?"
    r"(?P<version>[0-9]{1,6}(?:\.[0-9]{1,6}){0,3})(?![0-9A-Za-z.])"
    r"(?:\s*\((?P<comment>[^)]{0,256})\))?"
)
_WORD = re.compile(r"[A-Za-z]+")
#: Client texts remembered with what they parsed to; past this many the memory starts again,
#: so a caller inventing a new text on every request costs a parse, never memory.
MAX_KNOWN = 1024


class ClientSettings(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """``clients``: how this BFF identifies its callers, what it tells them about deprecated
    routes (``deprecations``, keyed by route template) and which workarounds old builds get
    (``workarounds``, keyed by a name of the rule's own).

    >>> ClientSettings(source="header").header
    'x-client-version'
    """

    #: ``user-agent``: the User-Agent header; ``header``: the header named by ``header``.
    source: Literal["user-agent", "header"] = "user-agent"
    header: _Header = "x-client-version"
    #: The app a bare version (``4.12.0``, no ``app/``) belongs to; empty: the BFF's name.
    app: _NameOrEmpty = ""
    #: Apps this BFF serves (lower case); a product not listed is an unknown client. Empty:
    #: only ``app``.
    apps: list[_Name] = msgspec.field(default_factory=list)
    platforms: list[_Name] = msgspec.field(
        default_factory=lambda: ["android", "ios", "ipados", "tvos", "macos", "windows", "web"]
    )
    #: Versions counted under their own label, per route, app and platform (the busiest
    #: ones); the rest are counted as ``other``, so the series stay bounded.
    top_versions: Annotated[int, msgspec.Meta(ge=1, le=100)] = 10
    deprecations: dict[str, Deprecation] = msgspec.field(default_factory=dict)
    workarounds: dict[str, Workaround] = msgspec.field(default_factory=dict)
    #: Client texts remembered, parsed; see :data:`MAX_KNOWN`.
    max_known: Count = MAX_KNOWN


class ClientInfo:
    """One caller's app, platform and version (``request.client_info``). ``known`` is False for
    the :data:`UNKNOWN` client, whose three fields read ``unknown``.

    >>> info = ClientInfo("waveform", "android", "4.12.0", (4, 12, 0, 0))
    >>> info.app, info.platform, info.version, info.known, info.at_least((4, 2, 0, 0))
    ('waveform', 'android', '4.12.0', True, True)
    """

    __slots__ = ("app", "numbers", "platform", "rules", "version")

    def __init__(
        self,
        app: str,
        platform: str,
        version: str,
        numbers: Numbers | None,
        rules: tuple[CompiledRule, ...] = (),
    ) -> None:
        self.app = app
        self.platform = platform
        self.version = version
        #: The version as four numbers to compare (None: unknown).
        self.numbers = numbers
        #: The workaround rules this client matches, found once when it was identified.
        self.rules = rules

    @property
    def known(self) -> bool:
        return self.numbers is not None

    def at_least(self, numbers: Numbers) -> bool:
        """Whether this is a known version at or above ``numbers``."""
        return self.numbers is not None and self.numbers >= numbers

    def __repr__(self) -> str:
        return f"<ClientInfo {self.app} {self.platform} {self.version}>"


UNKNOWN = ClientInfo("unknown", "unknown", "unknown", None)


class Identifier:
    """Parses client texts into :class:`ClientInfo`, each distinct text once; equal clients
    share one ``ClientInfo`` (so counting them is a dict lookup by identity).

    >>> ident = Identifier(ClientSettings(app="waveform"))
    >>> ident.identify("Waveform/3.2.0 (Android 14; Pixel 8)")
    <ClientInfo waveform android 3.2.0>
    >>> ident.identify("Mozilla/5.0 (X11; Linux x86_64)") is UNKNOWN
    True
    """

    def __init__(
        self, settings: ClientSettings, default_app: str = "", rules: tuple[CompiledRule, ...] = ()
    ) -> None:
        self._app = settings.app or default_app.lower()
        self._apps = frozenset(settings.apps or [self._app])
        self._platforms = frozenset(settings.platforms)
        self._max = settings.max_known
        self._rules = rules
        #: client text -> what it parsed to: read directly on the hot path.
        self.known: dict[str, ClientInfo] = {}
        self._interned: dict[tuple[str, str, str], ClientInfo] = {}

    def identify(self, text: str) -> ClientInfo:
        """The client ``text`` describes (remembered for the next time)."""
        info = self.known.get(text)
        if info is None:
            if len(self.known) >= self._max:
                self.known.clear()
                self._interned.clear()
            info = self.known[text] = self._parse(text)
        return info

    def _parse(self, text: str) -> ClientInfo:
        found = _CLIENT.match(text)
        if found is None:
            return UNKNOWN
        app = (found.group("app") or self._app).lower()
        if app not in self._apps:
            return UNKNOWN
        numbers = parse_version(found.group("version"))
        if numbers is None:
            return UNKNOWN
        platform = "unknown"
        comment = found.group("comment")
        if comment:
            word = _WORD.match(comment.strip())
            if word is not None and word.group().lower() in self._platforms:
                platform = word.group().lower()
        # The version as sent, normalized to drop leading zeros: "04.2" and "4.2" are one label.
        version = ".".join(str(n) for n in numbers[: found.group("version").count(".") + 1])
        key = (app, platform, version)
        info = self._interned.get(key)
        if info is None:
            matched = tuple(r for r in self._rules if r.matches(app, platform, numbers))
            info = self._interned[key] = ClientInfo(app, platform, version, numbers, matched)
        return info
