"""The edge cache stage over real upstreams: keys, scopes, 304s, coalescing, what is never
stored, stale-while-revalidate and stale-if-error."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from harness import bearer, call, sign

from conftest import HOME, FeedService, build_cached_bff, cache_stage_of, shape
from tailor import Request, aggregate
from tailor.cache import CachePolicy
from tailor.http import Response, json_response

USER = CachePolicy(scope="user", ttl_s=60)


def alice(app: str = "app-a") -> dict[str, str]:
    return bearer(sign("k1", sub="u1", client_id=app))


def version(response: Response) -> int:
    return int(json.loads(response.body)["feed"]["version"])


async def test_a_second_read_is_a_hit_without_an_upstream_call(make_bff, feed: FeedService):
    bff = build_cached_bff(make_bff, feed.upstream.url, USER)
    first = await call(bff, path="/home", headers=alice())
    second = await call(bff, path="/home", headers=alice())
    assert (first.header("x-cache"), second.header("x-cache")) == ("miss", "hit")
    assert second.body == first.body
    assert feed.calls() == 1


async def test_a_head_hit_hands_the_server_the_get_body_so_its_length_is_the_gets(
    make_bff, feed: FeedService
):
    bff = build_cached_bff(make_bff, feed.upstream.url, USER)
    first = await call(bff, path="/home", headers=alice())
    head = await call(bff, "HEAD", "/home", headers=alice())
    assert (head.status, head.header("x-cache")) == (200, "hit")
    assert head.body == first.body  # the server writes its length, never the body itself
    assert feed.calls() == 1


async def test_a_private_response_is_never_served_to_another_user_or_app(
    make_bff, feed: FeedService
):
    bff = build_cached_bff(make_bff, feed.upstream.url, USER)
    mine = await call(bff, path="/home", headers=alice("app-a"))
    bobs = await call(bff, path="/home", headers=bearer(sign("k1", sub="u2", client_id="app-a")))
    other_app = await call(bff, path="/home", headers=alice("app-b"))
    assert [r.header("x-cache") for r in (mine, bobs, other_app)] == ["miss"] * 3
    assert json.loads(bobs.body)["feed"]["user"] == "u2"
    assert len({version(mine), version(bobs), version(other_app)}) == 3
    assert feed.calls() == 3


async def test_user_scoped_entries_are_private_for_clients_and_cdns(make_bff, feed):
    policy = CachePolicy(scope="user", ttl_s=60, stale_while_revalidate_s=30,
                         stale_if_error_s=300)  # fmt: skip
    bff = build_cached_bff(make_bff, feed.upstream.url, policy)
    response = await call(bff, path="/home", headers=alice())
    assert response.header("cache-control") == (
        "private, max-age=60, stale-while-revalidate=30, stale-if-error=300"
    )


async def test_declared_query_parameters_are_part_of_the_key_and_others_are_not(
    make_bff, feed: FeedService
):
    bff = build_cached_bff(make_bff, feed.upstream.url, USER)
    await call(bff, path="/home", query="limit=20", headers=alice())
    default = await call(bff, path="/home", headers=alice())  # limit's default is 20
    noise = await call(bff, path="/home", query="utm=x", headers=alice())
    other = await call(bff, path="/home", query="limit=5", headers=alice())
    assert [r.header("x-cache") for r in (default, noise, other)] == ["hit", "hit", "miss"]


async def test_a_declared_vary_header_is_part_of_the_key_and_named_in_vary(
    make_bff, feed: FeedService
):
    policy = CachePolicy(scope="user", ttl_s=60, vary=("Accept-Language",))
    bff = build_cached_bff(make_bff, feed.upstream.url, policy)
    english = {**alice(), "accept-language": "en"}
    first = await call(bff, path="/home", headers=english)
    again = await call(bff, path="/home", headers=english)
    german = await call(bff, path="/home", headers={**alice(), "accept-language": "de"})
    assert [r.header("x-cache") for r in (first, again, german)] == ["miss", "hit", "miss"]
    assert {r.header("vary") for r in (first, again, german)} == {"accept-language"}


async def test_if_none_match_is_answered_304_on_a_hit(make_bff, feed: FeedService):
    bff = build_cached_bff(make_bff, feed.upstream.url, USER)
    first = await call(bff, path="/home", headers=alice())
    etag = first.header("etag")
    assert etag
    again = await call(bff, path="/home", headers={**alice(), "if-none-match": etag})
    assert (again.status, again.body, again.header("etag")) == (304, b"", etag)
    assert again.header("x-cache") == "hit"


async def test_if_none_match_is_answered_304_on_a_miss_when_the_body_is_unchanged(
    make_bff, feed: FeedService
):
    bff = build_cached_bff(make_bff, feed.upstream.url, USER)
    first = await call(bff, path="/home", headers=alice())
    feed.version -= 1  # the next upstream answer is byte-identical to the first
    other_instance = build_cached_bff(make_bff, feed.upstream.url, USER)
    response = await call(
        other_instance, path="/home", headers={**alice(), "if-none-match": first.header("etag")}
    )
    assert (response.status, response.header("x-cache")) == (304, "miss")


async def test_concurrent_misses_for_one_key_make_one_upstream_fan_out(make_bff, feed: FeedService):
    gate = asyncio.Event()
    original = feed.upstream.scripts[("GET", "/feed/u1")]

    def gated(seen):
        script = original(seen)
        script.gate = gate
        return script

    feed.upstream.script("GET", "/feed/u1", gated)
    bff = build_cached_bff(make_bff, feed.upstream.url, USER)
    await call(bff, path="/nope", headers=alice())  # start up (JWKS fetched) before the burst
    calls = [asyncio.create_task(call(bff, path="/home", headers=alice())) for _ in range(20)]
    await feed.upstream.wait_for_requests(2)  # the JWKS fetch and the one feed call
    gate.set()
    responses = await asyncio.gather(*calls)
    assert {r.status for r in responses} == {200}
    assert feed.calls() == 1
    labels = [r.header("x-cache") for r in responses]
    assert labels.count("miss") == 1
    assert "coalesced" in labels  # late arrivals may find the stored entry: "hit"
    assert set(labels) <= {"miss", "coalesced", "hit"}


async def test_a_degraded_response_is_not_stored(make_bff, feed: FeedService):
    feed.extra_status = 500  # the optional part fails: a marked partial response
    bff = build_cached_bff(make_bff, feed.upstream.url, USER)
    first = await call(bff, path="/home", headers=alice())
    assert first.header("tailor-degraded")
    assert first.header("cache-control") == "no-store"
    second = await call(bff, path="/home", headers=alice())
    assert second.header("x-cache") == "miss"
    assert feed.calls() == 2


async def test_a_response_that_sets_a_cookie_is_not_stored(make_bff, feed: FeedService):
    bff = build_cached_bff(make_bff, feed.upstream.url, USER)
    first = await call(bff, path="/cookie", headers=alice())
    second = await call(bff, path="/cookie", headers=alice())
    assert first.header("cache-control") == "no-store"
    assert [first.header("x-cache"), second.header("x-cache")] == ["miss", "miss"]


async def test_a_non_200_that_sets_a_cookie_is_not_handed_to_a_coalesced_caller(
    make_bff, feed: FeedService
):
    bff = build_cached_bff(make_bff, feed.upstream.url, USER)
    gate, entered = asyncio.Event(), asyncio.Event()
    runs = 0

    @bff.get("/denied", cache=USER)
    async def denied(request: Request) -> Response:
        nonlocal runs
        runs += 1
        mine = runs
        entered.set()
        await gate.wait()
        return Response(403, b"{}", [("set-cookie", f"run={mine}; HttpOnly")])

    await call(bff, path="/nope", headers=alice())  # start up (JWKS fetched) before the pair
    stage = cache_stage_of(bff)
    joined = asyncio.Event()

    class WatchedRuns(dict[str, Any]):
        """The stage's in-flight runs: tells the test when a second caller found one."""

        def get(self, key: str, default: Any = None) -> Any:
            found = super().get(key, default)
            if found is not None:
                joined.set()
            return found

    stage._inflight = WatchedRuns()
    first = asyncio.create_task(call(bff, path="/denied", headers=alice()))
    await asyncio.wait_for(entered.wait(), 5)
    second = asyncio.create_task(call(bff, path="/denied", headers=alice()))
    await asyncio.wait_for(joined.wait(), 5)  # the second caller waits on the first's run
    gate.set()
    a, b = await asyncio.gather(first, second)
    assert a.header("set-cookie") == "run=1; HttpOnly"
    assert b.header("set-cookie") != a.header("set-cookie")


async def test_user_scope_parts_cannot_collide_through_a_separator(make_bff, feed: FeedService):
    bff = build_cached_bff(make_bff, feed.upstream.url, USER)

    @bff.get("/whoami", cache=USER)
    async def whoami(request: Request) -> Response:
        assert request.principal is not None
        p = request.principal
        return json_response({"client_id": p.client_id, "sub": p.subject})

    one = await call(bff, path="/whoami", headers=bearer(sign("k1", sub="c", client_id="a:b")))
    two = await call(bff, path="/whoami", headers=bearer(sign("k1", sub="b:c", client_id="a")))
    assert two.header("x-cache") == "miss"
    assert json.loads(two.body) == {"client_id": "a", "sub": "b:c"}
    assert json.loads(one.body) == {"client_id": "a:b", "sub": "c"}


async def test_a_per_user_route_without_a_caller_bypasses_the_cache(make_bff, feed):
    bff = build_cached_bff(make_bff, feed.upstream.url, USER)

    @bff.get("/open-feed", auth=False, plan=HOME, cache=USER)
    async def open_feed(request: Request) -> Response:
        return await aggregate(request, shape, user_id="u1")

    first = await call(bff, path="/open-feed")
    second = await call(bff, path="/open-feed")
    assert (first.status, second.status) == (200, 200)
    assert feed.calls() == 2  # both reached the upstream: nothing was stored or shared


async def test_stale_while_revalidate_answers_stale_and_refreshes_once_in_the_background(
    make_bff, feed: FeedService
):
    policy = CachePolicy(scope="user", ttl_s=0.2, stale_while_revalidate_s=60)
    bff = build_cached_bff(make_bff, feed.upstream.url, policy)
    first = await call(bff, path="/home", headers=alice())
    await asyncio.sleep(0.25)  # the TTL is the behaviour under test
    stale = [await call(bff, path="/home", headers=alice()) for _ in range(5)]
    assert [r.header("x-cache") for r in stale] == ["stale"] * 5
    assert {version(r) for r in stale} == {version(first)}
    for _ in range(500):  # the refresh runs in the background: poll, bounded
        fresh = await call(bff, path="/home", headers=alice())
        if fresh.header("x-cache") == "hit":
            break
        await asyncio.sleep(0.01)
    assert version(fresh) == version(first) + 1
    assert feed.calls() == 2  # five stale answers, one refresh


async def test_stale_if_error_answers_the_stale_entry_when_the_upstream_fails(
    make_bff, feed: FeedService
):
    policy = CachePolicy(scope="user", ttl_s=0.2, stale_if_error_s=60)
    bff = build_cached_bff(make_bff, feed.upstream.url, policy)
    first = await call(bff, path="/home", headers=alice())
    await asyncio.sleep(0.25)  # the TTL is the behaviour under test
    feed.status = 503
    response = await call(bff, path="/home", headers=alice())
    assert (response.status, response.header("x-cache")) == (200, "stale")
    assert response.body == first.body


async def test_without_a_usable_entry_an_upstream_failure_is_still_a_problem(
    make_bff, feed: FeedService
):
    feed.status = 503
    bff = build_cached_bff(make_bff, feed.upstream.url, USER)
    response = await call(bff, path="/home", headers=alice())
    assert response.status == 502
    assert response.header("content-type") == "application/problem+json"
