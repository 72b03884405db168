"""Cache keys: one per caller for a route keyed by the caller alone, remembered (bounded)."""

from __future__ import annotations

import pytest

from tailor import Request, Response
from tailor.auth.principal import Principal
from tailor.cache import CachePolicy
from tailor.cache import key as cache_key
from tailor.cache.key import KeyShape
from tailor.routing import Route


async def _handler(request: Request) -> Response:
    return Response()


HOME = Route("GET", "/v1/home", _handler)


def _request(subject: str, client_id: str = "app-a") -> Request:
    request = Request("GET", "/v1/home", "", {"host": "bff.test"}, "127.0.0.1")
    request.route = HOME
    request.principal = Principal(subject, client_id=client_id)
    return request


def test_a_callers_key_is_the_same_on_every_request_and_differs_per_caller() -> None:
    shape = KeyShape(CachePolicy(scope="user"), HOME)
    keys = [
        shape.of(_request(s, c)) for s, c in (("u1", "a"), ("u1", "a"), ("u2", "a"), ("u1", "b"))
    ]
    assert keys[0] == keys[1]
    assert len(set(keys)) == 3


def test_remembered_keys_are_dropped_when_full_and_worked_out_the_same_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(cache_key, "CALLER_KEYS", 2)
    shape = KeyShape(CachePolicy(scope="user"), HOME)
    first = shape.of(_request("u1"))
    for subject in ("u2", "u3", "u4"):  # past the bound: the remembered keys go
        shape.of(_request(subject))
    assert shape.of(_request("u1")) == first
    assert len(shape._by_caller or {}) <= 2
