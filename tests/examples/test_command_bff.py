"""examples/command_bff.py: a command relayed to its service, retried safely with an
Idempotency-Key, and an edit carrying its version with If-Match (services behind the
transport seam)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import command_bff
import pytest

from tailor import BFF, build_config
from tailor.testing import call
from tailor.upstream.mock import MockTransport
from tailor.upstream.transport import UpstreamRequest, UpstreamResponse


class Services:
    """social and playlists as the example calls them: a like counter, a versioned playlist."""

    def __init__(self) -> None:
        self.likes = 0
        self.version = 1

    async def answer(self, request: UpstreamRequest) -> UpstreamResponse:
        if request.method == "PUT":
            self.likes += 1
            return UpstreamResponse(200, {}, b'{"track_id": "t1", "liked": true, "likes": %d}'
                                    % self.likes)  # fmt: skip
        sent = dict(request.headers).get("if-match")
        if sent != f'"v{self.version}"':
            return UpstreamResponse(412, {}, b'{"detail": "the playlist changed since"}')
        self.version += 1
        etag = f'"v{self.version}"'
        return UpstreamResponse(200, {"etag": etag}, b'{"id": "p1", "title": "B", "track_ids": []}')


@pytest.fixture
async def served() -> AsyncIterator[tuple[BFF, Services]]:
    services = Services()
    config = build_config(command_bff.PROFILE)
    bff: BFF = command_bff.create(config, transport=MockTransport(services.answer))
    yield bff, services
    await bff.shutdown()


async def test_a_retried_like_is_answered_without_liking_twice(
    served: tuple[BFF, Services],
) -> None:
    bff, services = served
    key = {"idempotency-key": '"retry-1"'}
    first = await call(bff, "POST", "/v1/tracks/t1/like", headers=key)
    again = await call(bff, "POST", "/v1/tracks/t1/like", headers=key)
    assert first.body == again.body and services.likes == 1


async def test_an_edit_with_the_current_version_answers_the_next_one(
    served: tuple[BFF, Services],
) -> None:
    bff, _ = served
    headers = {"if-match": '"v1"', "content-type": "application/json"}
    response = await call(bff, "PATCH", "/v1/playlists/p1", headers=headers, body=b'{"title":"B"}')
    assert (response.status, response.header("etag")) == (200, '"v2"')


async def test_an_edit_based_on_a_stale_version_is_the_services_412(
    served: tuple[BFF, Services],
) -> None:
    bff, _ = served
    headers = {"if-match": '"v0"', "content-type": "application/json"}
    response = await call(bff, "PATCH", "/v1/playlists/p1", headers=headers, body=b'{"title":"B"}')
    assert response.status == 412


async def test_an_edit_without_if_match_is_428(served: tuple[BFF, Services]) -> None:
    bff, _ = served
    headers = {"content-type": "application/json"}
    response = await call(bff, "PATCH", "/v1/playlists/p1", headers=headers, body=b"{}")
    assert response.status == 428
