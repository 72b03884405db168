"""Header hygiene, both ways.

Inbound:

- headers only tailor may set on an inward call (``X-User-Id``, the internal token, the
  deadline, ...) are dropped, as are hop-by-hop headers;
- the client address comes from ``X-Forwarded-For`` only as far as ``sanitize.trusted_proxies``
  reaches (see :func:`client_address`); with 0 trusted proxies the socket peer is the client;
- ``X-Forwarded-Host`` replaces ``Host`` only from a trusted proxy *and* when it names a host
  in ``sanitize.allowed_hosts``, so it cannot poison a cache key or a redirect;
  ``X-Forwarded-Proto`` sets the scheme only from a trusted proxy;
- every ``X-Forwarded-*`` and ``Forwarded`` header is then removed: handlers read
  ``request.client``, ``request.scheme`` and ``host``, never the raw chain;
- a ``Connection`` header strips nothing but itself. RFC 9110 asks a *forwarding*
  intermediary to drop the fields it nominates; tailor forwards no client header at all
  (inward requests are built from scratch), so honouring it would only let a client hide
  ``Authorization``, ``X-Request-Id`` or ``X-Forwarded-For`` from the stages that need them.

Outbound: no ``Server``, ``X-Powered-By``, internal or hop-by-hop header on any response
(responses are built by tailor, never copied from an upstream; this is the last net).
"""

from __future__ import annotations

import ipaddress
from operator import itemgetter
from typing import TYPE_CHECKING

from tailor.chain import Chain, Outcome, then
from tailor.config import Sanitize
from tailor.http import Request, Response

if TYPE_CHECKING:
    from tailor.pipeline import BuildContext

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "upgrade",
    }
)
FORWARDED = frozenset(
    {
        "forwarded",
        "x-forwarded-for",
        "x-forwarded-host",
        "x-forwarded-proto",
        "x-forwarded-port",
        "x-forwarded-prefix",
        "x-real-ip",
        "x-original-forwarded-for",
    }
)
RESPONSE_FORBIDDEN = frozenset({"server", "x-powered-by", "transfer-encoding"})
_name = itemgetter(0)  # of a (name, value) header pair


def _address(hop: str) -> str | None:
    """A hop of X-Forwarded-For as a normalized IP address, or None (``unknown``, garbage).

    >>> _address(" 203.0.113.7:5555 "), _address("[2001:db8::1]:443"), _address("evil")
    ('203.0.113.7', '2001:db8::1', None)
    """
    hop = hop.strip()
    if hop.startswith("["):  # [v6]:port
        hop = hop[1 : hop.find("]")] if "]" in hop else ""
    elif hop.count(":") == 1:  # v4:port
        hop = hop.split(":", 1)[0]
    try:
        return str(ipaddress.ip_address(hop))
    except ValueError:
        return None


def client_address(xff: str | None, peer: str, trusted_proxies: int) -> str:
    """The client of a request that came through ``trusted_proxies`` proxies of ours.

    Each proxy appends the address it received the request from, so the chain is
    ``X-Forwarded-For`` followed by the socket peer, and the last ``trusted_proxies`` hops
    are ours: the client is the hop just left of them (the right-most untrusted hop).
    Anything further left was written by the client and proves nothing. A chain shorter than
    that (a request that entered behind the outer proxy) gives its left-most hop, which one
    of our proxies wrote.

    >>> client_address("6.6.6.6, 203.0.113.7", "10.0.0.2", 1)
    '203.0.113.7'
    >>> client_address("6.6.6.6, 203.0.113.7", "10.0.0.2", 0)
    '10.0.0.2'
    """
    if trusted_proxies <= 0 or not xff:
        return peer
    hops = [*xff.split(","), peer]
    start = max(len(hops) - trusted_proxies - 1, 0)
    for hop in hops[start:]:  # a malformed hop: fall back to the proxy that wrote it
        found = _address(hop)
        if found is not None:
            return found
    return peer


class SanitizeStage:
    name = "sanitize"

    def __init__(self, internal: frozenset[str], cfg: Sanitize) -> None:
        self._drop_inbound = internal | HOP_BY_HOP | FORWARDED
        self._drop_outbound = internal | HOP_BY_HOP | RESPONSE_FORBIDDEN
        self._trusted = cfg.trusted_proxies
        self._allowed_hosts = frozenset(cfg.allowed_hosts)

    @classmethod
    def build(cls, ctx: BuildContext) -> SanitizeStage:
        cfg = ctx.config.sanitize
        internal = frozenset(h.lower() for h in cfg.internal_headers)
        return cls(internal, cfg)

    def _forwarded(self, request: Request) -> None:
        """Apply what trusted proxies said (only called with trusted_proxies > 0)."""
        headers = request.headers
        request.client = client_address(
            headers.get("x-forwarded-for"), request.client, self._trusted
        )
        host = headers.get("x-forwarded-host")
        if host:
            # the value our nearest proxy set or appended is the right-most one
            candidate = host.rsplit(",", 1)[-1].strip().lower()
            if candidate in self._allowed_hosts:
                headers["host"] = candidate
        proto = headers.get("x-forwarded-proto")
        if proto:
            scheme = proto.rsplit(",", 1)[-1].strip().lower()
            if scheme in ("http", "https"):
                request.scheme = scheme

    def wrap(self, next_handler: Chain) -> Chain:
        drop_in = self._drop_inbound
        drop_out = self._drop_outbound
        trusted = self._trusted

        def sanitize(request: Request) -> Outcome:
            if trusted:
                self._forwarded(request)
            headers = request.headers
            # Set operations run in C: most requests carry none of these, and cost one check.
            if not drop_in.isdisjoint(headers):
                for name in drop_in.intersection(headers):
                    del headers[name]
            return then(next_handler(request), _clean, drop_out)

        return sanitize


def _clean(response: Response, drop_out: frozenset[str]) -> Response:
    """``response`` without the headers that must never leave (see the module docstring)."""
    if not drop_out.isdisjoint(map(_name, response.headers)):
        response.headers = [(n, v) for n, v in response.headers if n not in drop_out]
    return response
