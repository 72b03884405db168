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

    >>> shape = KeyShape(CachePolicy(scope="user"), route)  # doctest: +SKIP
    >>> shape.of(request)  # a hex digest, or None to bypass  # doctest: +SKIP
    """

    __slots__ = ("_method", "_names", "_policy", "_spec", "_template", "_vary")

    def __init__(self, policy: CachePolicy, route: Route) -> None:
        self._policy = policy
        self._method = route.method
        self._template = route.template
        self._names = tuple(sorted(policy.query if policy.query is not None else route.query))
        self._spec = {n: route.query[n] for n in self._names if n in route.query}
        self._vary = policy.vary

    def of(self, request: Request) -> str | None:
        """The key of this request's response, or ``None`` to bypass the cache.

        Query parameters the route declares are parsed (so ``limit=05`` and ``limit=5`` and
        an absent parameter with its default all agree); a malformed one bypasses the cache
        and is refused by the handler stage with its 400.
        """
        scope = scope_of(self._policy, request)
        if scope is None:
            return None
        query: list[tuple[str, object]] = []
        if self._names:
            try:
                declared = parse_query(self._spec, request.query)
            except HTTPProblem:
                return None
            query = [(n, declared.get(n, request.query.get(n))) for n in self._names]
        vary = [(h, request.headers.get(h, "")) for h in self._vary] if self._vary else []
        params = sorted(request.path_params.items()) if request.path_params else []
        material = _encode([self._method, self._template, params, query, scope, vary])
        return hashlib.sha256(material).hexdigest()


def cache_key(policy: CachePolicy, request: Request) -> str | None:
    """The key of this request's response under ``policy`` (see :meth:`KeyShape.of`)."""
    assert request.route is not None, "the route stage runs first"
    return KeyShape(policy, request.route).of(request)
