"""The cache key: route + normalized parameters + the caller's scope + declared Vary headers.

The key is a hash of an unambiguous encoding (a JSON list), so no value can be crafted to
collide with another's key by embedding separators. Scope comes from the verified principal
only, never from a header a client controls.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

import msgspec

from tailor.cache.policy import CachePolicy
from tailor.errors import HTTPProblem
from tailor.http import Request
from tailor.params import parse_query

if TYPE_CHECKING:
    from tailor.routing import Route

_encode = msgspec.json.Encoder().encode
#: Keys remembered per cached route for routes keyed by the caller alone; emptied when full
#: (the next request of each caller hashes its key again).
CALLER_KEYS = 4096


def scope_of(policy: CachePolicy, request: Request) -> tuple[str, ...] | None:
    """The part of the key that says whose response this is; ``None``: cannot cache (a
    per-app or per-user response for a caller without a principal)."""
    if policy.scope == "public":
        return ("public",)
    principal = request.principal
    if principal is None:
        return None
    # Separate items of the JSON-encoded key, never joined with a separator: client id "a:b"
    # with subject "c" must not name the same scope as client id "a" with subject "b:c".
    if policy.scope == "app":
        return ("app", principal.client_id)
    # A user's response is also per app: two apps of one user may be entitled differently.
    return ("user", principal.client_id, principal.subject)


class KeyShape:
    """How one cached route's requests map to keys: the parts its policy names, worked out
    once when the stage is built, so a lookup only reads the request.

    >>> from tailor.routing import Route
    >>> async def feed(request: Request) -> None: ...
    >>> shape = KeyShape(CachePolicy(scope="public"), Route("GET", "/v1/feed", feed))
    >>> request = Request("GET", "/v1/feed", "", {}, "127.0.0.1")
    >>> len(shape.of(request))  # a hex digest, or None to bypass
    64
    """

    __slots__ = ("_by_caller", "_method", "_names", "_policy", "_spec", "_template", "_vary")

    def __init__(self, policy: CachePolicy, route: Route) -> None:
        self._policy = policy
        self._method = route.method
        self._template = route.template
        self._names = tuple(sorted(policy.query if policy.query is not None else route.query))
        self._spec = {n: route.query[n] for n in self._names if n in route.query}
        self._vary = policy.vary
        # A route with no parameter and no Vary header has one key per caller (scope): it is
        # remembered, so a caller's next request costs a dict lookup instead of a hash.
        plain = not self._names and not self._vary and "{" not in route.template
        self._by_caller: dict[tuple[str, ...], str] | None = {} if plain else None

    def of(self, request: Request) -> str | None:
        """The key of this request's response, or ``None`` to bypass the cache.

        Query parameters the route declares are parsed (so ``limit=05`` and ``limit=5`` and
        an absent parameter with its default all agree); a malformed one bypasses the cache
        and is refused by the handler stage with its 400.
        """
        scope = scope_of(self._policy, request)
        if scope is None:
            return None
        by_caller = self._by_caller
        if by_caller is not None:
            key = by_caller.get(scope)
            if key is None:
                if len(by_caller) >= CALLER_KEYS:
                    by_caller.clear()
                key = by_caller[scope] = self._digest([], [], scope, [])
            return key
        query: list[tuple[str, object]] = []
        if self._names:
            try:
                declared = parse_query(self._spec, request.query)
            except HTTPProblem:
                return None
            query = [(n, declared.get(n, request.query.get(n))) for n in self._names]
        vary = [(h, request.headers.get(h, "")) for h in self._vary] if self._vary else []
        params = sorted(request.path_params.items()) if request.path_params else []
        return self._digest(params, query, scope, vary)

    def _digest(
        self,
        params: list[tuple[str, str]],
        query: list[tuple[str, object]],
        scope: tuple[str, ...],
        vary: list[tuple[str, str]],
    ) -> str:
        material = _encode([self._method, self._template, params, query, scope, vary])
        return hashlib.sha256(material).hexdigest()


def cache_key(policy: CachePolicy, request: Request) -> str | None:
    """The key of this request's response under ``policy`` (see :meth:`KeyShape.of`)."""
    assert request.route is not None, "the route stage runs first"
    return KeyShape(policy, request.route).of(request)
