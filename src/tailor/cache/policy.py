"""What a route declares about caching its responses.

    @bff.get("/v1/home", cache=CachePolicy(scope="user", ttl_s=60))

The policy is the *shape* of the key (whose response is it, which query parameters and
headers make it different) and default timings. A client profile may override the timings
per route in config (``cache.routes``), so one endpoint can be cached 60 s for mobile and 5 s
for web without touching code.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from tailor.errors import ConfigError

#: Whose response an entry is. ``public``: everyone's; ``app``: one client application's (the
#: credential's ``client_id``); ``user``: one user's, in one app.
SCOPES = frozenset({"public", "app", "user"})


@dataclass(frozen=True, slots=True)
class CachePolicy:
    """How one route's GET responses are cached at the edge and by clients.

    >>> CachePolicy(scope="user", ttl_s=60, stale_while_revalidate_s=30).scope
    'user'

    ``query`` names the query parameters that select a different response (``None``: the
    route's declared ones); any other parameter is ignored by the key. ``vary`` names request
    headers that do the same (sent back as ``Vary``). ``shared_max_age_s`` is ``s-maxage``
    for CDNs, only meaningful for ``public`` entries.
    """

    scope: str = "user"
    ttl_s: float = 30.0
    stale_while_revalidate_s: float = 0.0
    stale_if_error_s: float = 0.0
    shared_max_age_s: float | None = None
    vary: tuple[str, ...] = ()
    query: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.scope not in SCOPES:
            raise ConfigError("cache.scope", f"must be one of {', '.join(sorted(SCOPES))}")
        for name in ("ttl_s", "stale_while_revalidate_s", "stale_if_error_s"):
            if getattr(self, name) < 0:
                raise ConfigError(f"cache.{name}", "must not be negative")
        if self.ttl_s == 0:
            raise ConfigError("cache.ttl_s", "must be positive (leave the policy out instead)")
        object.__setattr__(self, "vary", tuple(h.lower() for h in self.vary))

    def with_timings(
        self,
        ttl_s: float | None = None,
        stale_while_revalidate_s: float | None = None,
        stale_if_error_s: float | None = None,
    ) -> CachePolicy:
        """The same policy with a profile's timings laid over it."""
        return replace(
            self,
            ttl_s=self.ttl_s if ttl_s is None else ttl_s,
            stale_while_revalidate_s=(
                self.stale_while_revalidate_s
                if stale_while_revalidate_s is None
                else stale_while_revalidate_s
            ),
            stale_if_error_s=(
                self.stale_if_error_s if stale_if_error_s is None else stale_if_error_s
            ),
        )

    @property
    def private(self) -> bool:
        """Entries keyed by the caller must never land in a shared cache (RFC 9111 s5.2.2.7)."""
        return self.scope != "public"
