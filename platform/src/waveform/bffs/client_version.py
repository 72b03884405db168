"""A client-version gate, shared by the BFFs of installed apps (mobile today).

An installed app cannot be redeployed: a build too old to work against the platform must be
told to update, once, in a way it can show, rather than fail screen by screen. The app sends
its version in a header (``X-Client-Version: 4.12.0``); a version below the configured
minimum is answered ``426 Upgrade Required`` problem+json (what the app turns into its
"please update" screen). The gate runs right after routing, before authentication: an app
too old to be served is told so before it is asked for credentials.

    version >= minimum (or no header, when allow_missing)  -> continue
    version < minimum                                       -> 426
    a header that is no dotted version (``4.x``)            -> 400 naming the header
    no header, allow_missing = false                        -> 400 naming the header

Configured under ``stages.client_version`` (:class:`ClientVersionSettings`); a BFF adds it
with ``bff.add_stage(ClientVersionStage, after="route")``. Not a business rule: which
versions work is a property of the platform's API, the same for every BFF of that app.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import msgspec

from tailor.chain import Chain, Outcome
from tailor.http import Request
from tailor.problem import problem_response

if TYPE_CHECKING:
    from tailor.pipeline import BuildContext

#: One to four dot-separated numbers: ``4``, ``4.12``, ``4.12.0``, ``4.12.0.881``.
VERSION_PATTERN = r"^[0-9]{1,6}(\.[0-9]{1,6}){0,3}$"
#: Versions seen are parsed once and remembered; a client sending a new one each time only
#: refills this many entries.
_MAX_KNOWN = 1024

Version = Annotated[str, msgspec.Meta(pattern=VERSION_PATTERN)]


class ClientVersionSettings(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """``stages.client_version``: the oldest version still served, and where it is read.

    >>> ClientVersionSettings(minimum="4.2").header
    'x-client-version'
    """

    minimum: Version
    header: str = "x-client-version"
    #: A request without the header (a browser, a script, a build from before the header
    #: existed that is still above the minimum) is let through.
    allow_missing: bool = True


def parse_version(text: str) -> tuple[int, ...] | None:
    """A dotted version as four numbers to compare, or None when it is not one.

    >>> parse_version("4.12"), parse_version("4.x")
    ((4, 12, 0, 0), None)
    """
    parts = text.split(".")
    if not 1 <= len(parts) <= 4 or not all(p.isascii() and p.isdigit() for p in parts):
        return None
    if any(len(p) > 6 for p in parts):
        return None
    # Padded, so that 4.2 and 4.2.0 are the same version.
    return (*map(int, parts), *(0,) * (4 - len(parts)))


class ClientVersionStage:
    """Refuses app versions below ``stages.client_version.minimum`` with a 426.

    >>> bff.add_stage(ClientVersionStage, after="route")  # doctest: +SKIP
    """

    name = "client_version"
    #: What it answers on every route (documented there: tailor.openapi.problems).
    problems = (400, 426)

    def __init__(self, settings: ClientVersionSettings) -> None:
        minimum = parse_version(settings.minimum)
        assert minimum is not None, "the settings' pattern admits only versions"
        self._minimum = minimum
        self._settings = settings

    @classmethod
    def build(cls, ctx: BuildContext) -> ClientVersionStage:
        return cls(ctx.stage_settings(cls.name, ClientVersionSettings))

    def wrap(self, next_handler: Chain) -> Chain:
        header = self._settings.header.lower()
        allow_missing = self._settings.allow_missing
        minimum = self._minimum
        wanted = self._settings.minimum
        #: version text -> whether it is served (None: not a version)
        known: dict[str, bool | None] = {}

        def client_version(request: Request) -> Outcome:
            text = request.headers.get(header)
            if text is None:
                if allow_missing:
                    return next_handler(request)
                return _bad(request, header, "is required")
            try:
                served = known[text]
            except KeyError:
                served = judge(text)
            if served:
                return next_handler(request)
            if served is None:
                return _bad(request, header, "must be a dotted version such as 4.12.0")
            return problem_response(
                426,
                f"this version of the app ({text}) is no longer supported; "
                f"update to {wanted} or later",
                request_id=request.request_id,
            )

        def judge(text: str) -> bool | None:
            version = parse_version(text)
            served = None if version is None else version >= minimum
            if len(known) >= _MAX_KNOWN:
                known.clear()
            known[text] = served
            return served

        return client_version


def _bad(request: Request, header: str, what: str) -> Outcome:
    return problem_response(
        400, f"the {header} header {what}", parameter=header, request_id=request.request_id
    )
