"""W3C Trace Context: reading ``traceparent`` and ``tracestate`` at the edge (writing them is
``tailor.trace._otlp.trace_headers``, one C call per request or Part).

A header that does not parse starts a new trace; it never fails the request (a client, a
proxy or a bug upstream of us may send anything). The rules are those of the W3C
recommendation: version ``ff`` is invalid, version ``00`` is exactly 55 characters, a later
version may carry more after a ``-``, ids are lower-case hex and not all zeros.

>>> parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
ParentContext(trace_id='4bf92f3577b34da6a3ce929d0e0e4736', span_id='00f067aa0ba902b7', sampled=True)
>>> parse_traceparent("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01") is None
True
"""

from __future__ import annotations

import re
from typing import NamedTuple

_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?")
_ZERO_TRACE = "0" * 32
_ZERO_SPAN = "0" * 16
#: tracestate: at most 32 list members (W3C), each ``key=value`` of printable ASCII.
_TRACESTATE_MEMBER = re.compile(
    r"[a-z0-9][a-z0-9_\-*/@]{0,255}=[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}"
)
MAX_TRACESTATE = 512  # characters kept and passed inward; a longer one is dropped


class ParentContext(NamedTuple):
    """The caller's trace: its trace id, its span (our server span's parent), and whether it
    sampled the trace (the ``01`` flag)."""

    trace_id: str
    span_id: str
    sampled: bool


def parse_traceparent(value: str | None) -> ParentContext | None:
    """The parent in a ``traceparent`` header, or None when it is absent or invalid."""
    if not value or len(value) < 55:
        return None
    match = _TRACEPARENT.fullmatch(value.strip(" \t"))
    if match is None:
        return None
    version, trace_id, span_id, flags, rest = match.groups()
    if version == "ff" or (version == "00" and rest is not None):
        return None
    if trace_id == _ZERO_TRACE or span_id == _ZERO_SPAN:
        return None
    return ParentContext(trace_id, span_id, bool(int(flags, 16) & 1))


def valid_tracestate(value: str | None) -> str:
    """``tracestate`` as received when it is well formed (passed on inward unchanged), else
    the empty string: a bad tracestate is dropped, the trace goes on."""
    if not value or len(value) > MAX_TRACESTATE:
        return ""
    members = [m.strip(" \t") for m in value.split(",")]
    members = [m for m in members if m]
    if not members or len(members) > 32:
        return ""
    if all(_TRACESTATE_MEMBER.fullmatch(m) for m in members):
        return ",".join(members)
    return ""
