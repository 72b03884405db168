"""URL pieces for inward calls: a path segment and a query string, percent-encoded.

Nearly every value a BFF puts in an inward URL is a plain ASCII id, a number or a comma-joined
list of ids, which encoding leaves as it is. Those skip ``urllib.parse.quote`` (a measurable
share of each inward call); anything else is encoded by it, exactly as before.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import quote, urlencode

#: What quote(safe="") leaves untouched (RFC 3986 unreserved characters).
_PLAIN_SEGMENT = re.compile(r"[A-Za-z0-9_.~-]*")
#: ``key=value`` where both are what urlencode(safe=",") leaves untouched (unreserved
#: characters and the list comma); neither may hold "=", so the one "=" is the separator.
_PLAIN_PAIR = re.compile(r"[A-Za-z0-9_.~,-]*=[A-Za-z0-9_.~,-]*")


def quote_segment(value: str) -> str:
    """``value`` as one path segment: "/" and everything outside unreserved is encoded.

    >>> quote_segment("u1"), quote_segment("a/b c")
    ('u1', 'a%2Fb%20c')
    """
    if _PLAIN_SEGMENT.fullmatch(value) is not None:
        return value
    return quote(value, safe="")


def query_string(query: Mapping[str, str | int]) -> str:
    """``query`` as ``k=v&...``; commas stay literal (id lists), the rest as urlencode does.

    >>> query_string({"ids": "t1,t2", "limit": 10, "q": "a b&c"})
    'ids=t1,t2&limit=10&q=a+b%26c'
    """
    parts = []
    for key, value in query.items():
        pair = f"{key}={value}"
        if _PLAIN_PAIR.fullmatch(pair) is None:
            text = value if isinstance(value, str) else str(value)
            pair = urlencode({key: text}, safe=",")
        parts.append(pair)
    return "&".join(parts)
