"""Choosing a response's content coding from ``Accept-Encoding`` (RFC 9110 s12.5.3).

The header lists codings with optional q-values (``gzip;q=0.5, br``); ``*`` stands for any
coding not listed; ``q=0`` rules one out. ``identity`` (no coding) is acceptable unless ruled
out by ``identity;q=0``, or by ``*;q=0`` without an ``identity`` entry. No header, or an empty
one, asks for identity. Among the codings the server offers, the highest q wins and a tie goes
to the server's preference; identity is chosen over them only when the client ranks it higher
than every one (``gzip;q=0.5, identity``) or accepts none of them. When nothing the server has
is acceptable, not even identity, the answer is ``None``: a 406.

>>> n = Negotiator(("zstd", "br", "gzip"))
>>> n.choose("gzip, deflate, br"), n.choose("gzip;q=1, zstd;q=0.9"), n.choose(None)
('br', 'gzip', 'identity')
>>> n.choose("identity;q=0, *;q=0") is None
True
"""

from __future__ import annotations

from collections.abc import Sequence

IDENTITY = "identity"
#: Names a client may send for a coding tailor knows by another (RFC 9110 s8.4.1.3).
_ALIASES = {"x-gzip": "gzip"}
#: Distinct header values remembered; clients send a handful, so past this one is only a guess.
_MEMO_SIZE = 256


def coding_name(token: str) -> str:
    """A coding as tailor names it (lower-case, aliases resolved).

    >>> coding_name(" X-GZIP ")
    'gzip'
    """
    name = token.strip().lower()
    return _ALIASES.get(name, name)


def preferences(accept_encoding: str) -> dict[str, float]:
    """The q-value of each coding the header names (lower-case); a member whose q is not a
    valid qvalue (0 to 1, at most three decimals) is left out.

    >>> preferences("GZIP;q=0.5, br;Q=1, zstd;q=2, *;q=0")
    {'gzip': 0.5, 'br': 1.0, '*': 0.0}
    """
    found: dict[str, float] = {}
    for member in accept_encoding.split(","):
        coding, _, params = member.partition(";")
        name = coding_name(coding)
        if not name:
            continue
        q = _qvalue(params) if params else 1.0
        if q is not None:
            found[name] = q
    return found


def _qvalue(params: str) -> float | None:
    key, _, value = params.strip().partition("=")
    if key.strip().lower() != "q":
        return None
    value = value.strip()
    whole, _, decimals = value.partition(".")
    if whole not in ("0", "1") or len(decimals) > 3 or not (decimals.isdigit() or not decimals):
        return None
    q = float(value)
    return q if q <= 1.0 else None


def choose(accept_encoding: str | None, offered: Sequence[str]) -> str | None:
    """The coding to answer in, of ``offered`` (best first) and identity; ``None`` when the
    header rules out all of them."""
    if not accept_encoding or not accept_encoding.strip():
        return IDENTITY
    prefs = preferences(accept_encoding)
    anything = prefs.get("*")
    best, best_q = None, 0.0
    for coding in offered:
        q = prefs.get(coding, anything if anything is not None else 0.0)
        if q > best_q:
            best, best_q = coding, q
    identity_q = prefs.get(IDENTITY, anything if anything is not None else 1.0)
    if best is None or (identity_q > best_q and IDENTITY in prefs):
        return IDENTITY if identity_q > 0 else best
    return best


class Negotiator:
    """:func:`choose` for one server's offer, remembering the answer per header value:
    ``known`` maps the values seen (and ``None``, no header) to their coding, so the stage
    finds a request's with one dict lookup and calls :meth:`choose` only for a new value."""

    __slots__ = ("known", "offered")

    def __init__(self, offered: Sequence[str]) -> None:
        self.offered = tuple(offered)
        self.known: dict[str | None, str | None] = {None: IDENTITY}

    def coding(self, accept_encoding: str | None) -> str | None:
        """The coding for this header value (``None``: 406), looked up when seen before."""
        known = self.known.get(accept_encoding)
        return known if known is not None else self.choose(accept_encoding)

    def choose(self, accept_encoding: str | None) -> str | None:
        known = self.known
        if accept_encoding in known:
            return known[accept_encoding]
        chosen = choose(accept_encoding, self.offered)
        if len(known) < _MEMO_SIZE:
            known[accept_encoding] = chosen
        return chosen
