"""A small cached BFF over real upstreams: JWT callers, a per-user feed aggregated from a
scripted "feed" service (each call answers a new version, so a test can tell a cached
answer from a fresh one), and a public route."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import msgspec
import pytest
from harness import AUDIENCE, ISSUER, jwks
from upstreams import Received, Script, ScriptedUpstream

from tailor import BFF, AggregateBody, Part, Plan, PlanResult, Request, Response, aggregate
from tailor.cache import CachePolicy, tag
from tailor.http import json_response
from tailor.params import Int
from tailor.stages.cache import CacheStage

JWKS_PATH = "/.well-known/jwks.json"


class Feed(msgspec.Struct):
    user: str
    version: int


class Home(AggregateBody, kw_only=True):
    feed: Feed | None
    extra: Feed | None = None


HOME = Plan(
    parts=(
        Part("feed", "feed", "/feed/{user_id}", into=Feed, timeout_s=1.0),
        Part("extra", "feed", "/extra/{user_id}", into=Feed, required=False, fallback=None,
             timeout_s=0.3),
    ),
    deadline_s=2.0,
)  # fmt: skip


def shape(outcome: PlanResult) -> Home:
    return Home(feed=outcome["feed"], extra=outcome["extra"])


class FeedService:
    """Scripts the feed upstream: every call answers the next version."""

    def __init__(self, upstream: ScriptedUpstream) -> None:
        self.upstream = upstream
        self.version = 0
        self.status = 200
        self.extra_status = 200
        upstream.script("GET", JWKS_PATH, json=jwks("k1"))
        for user in ("u1", "u2"):
            upstream.script("GET", f"/feed/{user}", self._answer)
            upstream.script("GET", f"/extra/{user}", self._extra)

    def _answer(self, seen: Received) -> Script:
        self.version += 1
        user = seen.path.rsplit("/", 1)[1]
        return Script(self.status, json={"user": user, "version": self.version})

    def _extra(self, seen: Received) -> Script:
        return Script(self.extra_status, json={"user": "x", "version": 0})

    def calls(self) -> int:
        return len([r for r in self.upstream.received() if r.path.startswith("/feed/")])


def build_cached_bff(
    make_bff: Callable[..., BFF],
    upstream_url: str,
    policy: CachePolicy,
    config: dict[str, Any] | None = None,
) -> BFF:
    base: dict[str, Any] = {
        "auth": {"jwt": {"issuer": ISSUER, "audience": AUDIENCE, "jwks_upstream": "accounts"}},
        "upstreams": {"accounts": upstream_url, "feed": upstream_url},
    }
    for key, value in (config or {}).items():
        base[key] = value
    bff = make_bff(base)

    @bff.get("/home", plan=HOME, cache=policy, query={"limit": Int(20, 1, 50)})
    async def home(request: Request) -> Response:
        assert request.principal is not None
        user = request.principal.subject
        tag(request, f"feed:{user}")
        return await aggregate(request, shape, user_id=user)

    @bff.get("/cookie", cache=policy)
    async def cookie(request: Request) -> Response:
        response = json_response({"ok": True})
        response.headers.append(("set-cookie", "session=abc; HttpOnly"))
        return response

    return bff


@pytest.fixture
def feed(upstream: ScriptedUpstream) -> FeedService:
    return FeedService(upstream)


def cache_stage_of(bff: BFF) -> CacheStage:
    """The BFF's built cache stage, found in the chain's closures (stages are closures, or
    partials of a combinator)."""
    seen: set[int] = set()
    todo: list[object] = [bff._chain]
    while todo:
        obj = todo.pop()
        if isinstance(obj, CacheStage):
            return obj
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        for cell in getattr(obj, "__closure__", None) or ():
            todo.append(cell.cell_contents)
        if isinstance(obj, partial):
            todo.extend(obj.args)
    raise AssertionError("the chain has no cache stage")
