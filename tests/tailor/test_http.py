"""The request and response objects every stage sees."""

from __future__ import annotations

from tailor import Request


def test_a_requests_repr_never_shows_its_headers() -> None:
    request = Request("GET", "/v1/home", "", {"authorization": "Bearer secret"}, "127.0.0.1")
    assert "secret" not in repr(request)
    assert repr(request) == "<Request GET /v1/home>"


def test_a_requests_rich_repr_never_shows_its_headers() -> None:
    request = Request("GET", "/v1/home", "", {"authorization": "Bearer secret"}, "127.0.0.1")
    assert list(request.__rich_repr__()) == [("method", "GET"), ("path", "/v1/home")]


def test_requests_compare_by_identity() -> None:
    one = Request("GET", "/v1/home", "", {}, "127.0.0.1")
    other = Request("GET", "/v1/home", "", {}, "127.0.0.1")
    assert one != other
    assert len({one, other}) == 2
