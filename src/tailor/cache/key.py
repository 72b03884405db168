"""The cache key: route + normalized parameters + the caller's scope + declared Vary headers.

The key is a hash of an unambiguous encoding (a JSON list), so no value can be crafted to
collide with another's key by embedding separators. Scope comes from the verified principal
only, never from a header a client controls.
"""

from __future__ import annotations

import hashlib

import msgspec

from tailor.cache.policy import CachePolicy
from tailor.errors import HTTPProblem
from tailor.http import Request
from tailor.params import parse_query

_encode = msgspec.json.Encoder().encode


def scope_of(policy: CachePolicy, request: Request) -> str | None:
    """The part of the key that says whose response this is; ``None``: cannot cache (a
    per-app or per-user response for a caller without a principal)."""
    if policy.scope == "public":
        return "public"
    principal = request.principal
    if principal is None:
        return None
    # JSON-encoded parts, never joined with a separator: client id "a:b" with subject "c"
    # must not name the same scope as client id "a" with subject "b:c".
    if policy.scope == "app":
        return _encode(["app", principal.client_id]).decode()
    # A user's response is also per app: two apps of one user may be entitled differently.
    return _encode(["user", principal.client_id, principal.subject]).decode()


def cache_key(policy: CachePolicy, request: Request) -> str | None:
    """The key of this request's response under ``policy``, or ``None`` to bypass the cache.

    Query parameters the route declares are parsed (so ``limit=05`` and ``limit=5`` and an
    absent parameter with its default all agree); a malformed one bypasses the cache and is
    refused by the handler stage with its 400.
    """
    route = request.route
    assert route is not None, "the route stage runs first"
    scope = scope_of(policy, request)
    if scope is None:
        return None
    names = sorted(policy.query if policy.query is not None else route.query)
    try:
        declared = parse_query({n: route.query[n] for n in names if n in route.query},
                               request.query)  # fmt: skip
    except HTTPProblem:
        return None
    query = [(n, declared.get(n, request.query.get(n))) for n in names]
    vary = [(h, request.headers.get(h, "")) for h in policy.vary]
    material = _encode(
        [route.method, route.template, sorted(request.path_params.items()), query, scope, vary]
    )
    return hashlib.sha256(material).hexdigest()
