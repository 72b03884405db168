"""Cache-related response headers and conditional requests.

``Cache-Control`` tells clients and CDNs what the edge itself does: ``private`` for entries
keyed by the caller (a shared cache must never store them), ``public`` plus ``s-maxage`` for
public ones, and the RFC 5861 stale windows. ``x-cache`` says what the edge did:
``hit``, ``miss``, ``stale`` (served past its TTL: revalidating in the background, or in
place of an upstream error) or ``coalesced`` (a miss that waited for a concurrent one).
"""

from __future__ import annotations

from tailor.cache.policy import CachePolicy

X_CACHE = "x-cache"
NO_STORE = "no-store"


def cache_control(policy: CachePolicy) -> str:
    """
    >>> cache_control(CachePolicy(scope="user", ttl_s=60, stale_while_revalidate_s=30))
    'private, max-age=60, stale-while-revalidate=30'
    """
    parts = ["private" if policy.private else "public", f"max-age={int(policy.ttl_s)}"]
    if not policy.private:
        shared = policy.ttl_s if policy.shared_max_age_s is None else policy.shared_max_age_s
        parts.append(f"s-maxage={int(shared)}")
    if policy.stale_while_revalidate_s:
        parts.append(f"stale-while-revalidate={int(policy.stale_while_revalidate_s)}")
    if policy.stale_if_error_s:
        parts.append(f"stale-if-error={int(policy.stale_if_error_s)}")
    return ", ".join(parts)


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 s13.1.2: weak comparison, a list of tags, or ``*``.

    >>> etag_matches('W/"a", "b"', '"a"')
    True
    """
    if not if_none_match:
        return False
    wanted = etag.removeprefix("W/")
    for candidate in if_none_match.split(","):
        tag = candidate.strip()
        if tag == "*" or tag.removeprefix("W/") == wanted:
            return True
    return False
