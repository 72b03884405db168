"""A client-version gate, shared by the BFFs of installed apps (mobile today).

An installed app cannot be redeployed: a build too old to work against the platform must be
told to update, once, in a way it can show, rather than fail screen by screen. tailor's
``clients`` stage has already identified the caller (``request.client_info``: app, platform and
version, from ``X-Client-Version: 4.12.0`` in the mobile profile); a known version below the
configured minimum is answered ``426 Upgrade Required`` problem+json (what the app turns into
its "please update" screen). The gate runs right after ``clients``, before authentication: an
app too old to be served is told so before it is asked for credentials.

    known version >= minimum                                -> continue
    known version < minimum                                 -> 426
    unknown client (no header, or one that is no version)   -> continue, or 400 naming the
                                                               header when allow_missing = false

A header that is no version is an unknown client, as tailor treats it everywhere (never an
error of its own): it is refused only where every caller must say which build it is.

Configured under ``stages.client_version`` (:class:`ClientVersionSettings`); a BFF adds it
with ``bff.add_stage(ClientVersionStage, after="clients")`` and a ``clients`` table in its
config. Not a business rule: which versions work is a property of the platform's API, the
same for every BFF of that app.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from tailor.chain import Chain, Outcome
from tailor.clients import parse_version
from tailor.clients.versions import Version
from tailor.errors import ConfigError
from tailor.http import Request
from tailor.problem import problem_response

if TYPE_CHECKING:
    from tailor.pipeline import BuildContext


class ClientVersionSettings(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """``stages.client_version``: the oldest version still served.

    >>> ClientVersionSettings(minimum="4.2").allow_missing
    True
    """

    minimum: Version
    #: A request from an unknown client (a browser, a script, a build from before the header
    #: existed, a header that is no version) is let through.
    allow_missing: bool = True


class ClientVersionStage:
    """Refuses app versions below ``stages.client_version.minimum`` with a 426.

    >>> bff.add_stage(ClientVersionStage, after="clients")  # doctest: +SKIP
    """

    name = "client_version"
    #: What it answers on every route (documented there: tailor.openapi.problems).
    problems = (400, 426)

    def __init__(self, settings: ClientVersionSettings, header: str) -> None:
        minimum = parse_version(settings.minimum)
        assert minimum is not None, "the settings' pattern admits only versions"
        self._minimum = minimum
        self._settings = settings
        self._header = header

    @classmethod
    def build(cls, ctx: BuildContext) -> ClientVersionStage:
        settings = ctx.stage_settings(cls.name, ClientVersionSettings)
        clients = ctx.config.clients
        if clients is None:
            raise ConfigError(
                "clients", "the client_version stage reads request.client_info: add it"
            )
        header = "user-agent" if clients.source == "user-agent" else clients.header.lower()
        return cls(settings, header)

    def wrap(self, next_handler: Chain) -> Chain:
        allow_missing = self._settings.allow_missing
        minimum = self._minimum
        wanted = self._settings.minimum
        header = self._header

        def client_version(request: Request) -> Outcome:
            client = request.client_info
            if client is None or client.numbers is None:
                if allow_missing:
                    return next_handler(request)
                return problem_response(
                    400,
                    f"the {header} header is required, as a version such as 4.12.0",
                    parameter=header,
                    request_id=request.request_id,
                )
            if client.numbers >= minimum:
                return next_handler(request)
            return problem_response(
                426,
                f"this version of the app ({client.version}) is no longer supported; "
                f"update to {wanted} or later",
                request_id=request.request_id,
            )

        return client_version
