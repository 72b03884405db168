"""The fast URL pieces encode exactly as urllib does."""

from __future__ import annotations

from urllib.parse import quote, urlencode

import pytest

from tailor.upstream.urls import query_string, quote_segment

TRICKY = [
    "u1",
    "",
    "a b",
    "a/b",
    "a,b",
    "t1,t2,t3",
    "é",
    "x&y=z",
    "%41",
    "a+b",
    "~._-",
    "\r\n",
    "a=b",
]


@pytest.mark.parametrize("value", TRICKY)
def test_a_path_segment_is_encoded_as_quote_with_nothing_safe(value: str) -> None:
    assert quote_segment(value) == quote(value, safe="")


@pytest.mark.parametrize("value", TRICKY)
def test_a_query_is_encoded_as_urlencode_with_literal_commas(value: str) -> None:
    query = {"ids": value, "limit": 10, value or "k": "v"}
    assert query_string(query) == urlencode(query, safe=",")
