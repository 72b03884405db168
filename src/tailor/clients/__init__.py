"""Who calls, with which build: client identification, route deprecation and per-version
workarounds (the ``clients`` config table, the ``clients`` stage). See docs/clients.md.

    identity      ClientSettings (the config), ClientInfo (``request.client_info``), Identifier
    versions      app build numbers and ranges (``>=3.0, <3.4``)
    deprecation   Deprecation: RFC 9745 / RFC 8594 headers, 410 after the sunset
    workarounds   Workaround rules, Transform (what a BFF registers), expired()
    usage         calls per route and client on /metrics, bounded
"""

from tailor.clients.deprecation import Deprecation
from tailor.clients.identity import UNKNOWN, ClientInfo, ClientSettings, Identifier
from tailor.clients.versions import VersionRange, parse_version
from tailor.clients.workarounds import Transform, Workaround, expired

__all__ = [
    "UNKNOWN",
    "ClientInfo",
    "ClientSettings",
    "Deprecation",
    "Identifier",
    "Transform",
    "VersionRange",
    "Workaround",
    "expired",
    "parse_version",
]
