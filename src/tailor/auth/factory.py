"""Which authenticators a BFF profile uses, built from its config, in the order they are
tried. Add a credential type here (and its config section), not in the stage.

Order: client certificate, session cookie, API key, bearer JWT. A credential that is present
and bad is refused outright; one that is absent lets the next authenticator try.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING
from urllib.parse import quote

from tailor.auth import keysource
from tailor.auth.apikey import APIKeyAuthenticator
from tailor.auth.authenticator import Authenticator
from tailor.auth.jwt import BearerJWTAuthenticator, JWTVerifier
from tailor.auth.mtls import MTLSAuthenticator
from tailor.auth.session import (
    MemorySessionStore,
    RedisSessionStore,
    SessionAuthenticator,
    SessionManager,
    SessionStore,
)
from tailor.errors import ConfigError

if TYPE_CHECKING:
    from tailor.config import Config
    from tailor.pipeline import BuildContext
    from tailor.routing import Route


def build_authenticators(ctx: BuildContext) -> list[Authenticator]:
    cfg = ctx.config
    client = ctx.client
    authenticators: list[Authenticator] = []
    if cfg.auth.mtls is not None:
        mtls = cfg.auth.mtls

        async def lookup(subject: str) -> tuple[int, bytes]:
            path = f"{mtls.identity_path}?subject={quote(subject, safe='')}"
            response = await client.request(mtls.identity_upstream, path, timeout_s=1.0)
            return response.status, response.body

        authenticators.append(MTLSAuthenticator(mtls, lookup))
    if cfg.auth.session is not None:
        settings = cfg.auth.session
        store: SessionStore = (
            RedisSessionStore(ctx.redis())
            if settings.store == "redis"
            else MemorySessionStore(settings.max_sessions)
        )
        authenticators.append(SessionAuthenticator(SessionManager(settings, store)))
    if cfg.auth.api_key is not None:
        keys = cfg.auth.api_key

        async def verify(body: bytes) -> tuple[int, bytes]:
            response = await client.request(
                keys.verify_upstream, keys.verify_path, method="POST", body=body, timeout_s=1.0
            )
            return response.status, response.body

        authenticators.append(APIKeyAuthenticator(keys, verify))
    if cfg.auth.jwt is not None:
        verifier = JWTVerifier(cfg.auth.jwt, keysource.fetcher(cfg.auth.jwt, client))
        authenticators.append(BearerJWTAuthenticator(verifier, cfg.name))
    return authenticators


def upstreams_used(config: Config) -> set[str]:
    """Upstreams the configured authenticators and the entitlement check call (checked
    against the registry at startup)."""
    auth = config.auth
    used: set[str] = set()
    if auth.jwt is not None and auth.jwt.jwks_upstream is not None:
        used.add(auth.jwt.jwks_upstream)
    if auth.api_key is not None:
        used.add(auth.api_key.verify_upstream)
    if auth.mtls is not None:
        used.add(auth.mtls.identity_upstream)
    if config.entitlements.enabled:
        used.add(config.entitlements.registry_upstream)
    return used


def check_auth(config: Config, routes: Iterable[Route]) -> None:
    """What startup refuses in authentication, checked without starting anything: a JWT key
    file that cannot be read or parsed, and a route that requires authentication nothing
    provides (it would otherwise be served to anyone without a word). The first such route
    is named; ``auth=False`` on the route or ``auth.anonymous = true`` says it is meant."""
    if config.auth.jwt is not None:
        keysource.check_key_source(config.auth.jwt)
    if config.auth.configured() or config.auth.anonymous:
        return
    for route in routes:
        if route.auth:
            raise ConfigError(
                "auth",
                f"route {route.method} {route.template} requires authentication but no"
                " authenticator is configured: configure auth.jwt, auth.session,"
                " auth.api_key or auth.mtls, declare the route with auth=False, or set"
                " auth.anonymous = true to serve every route anonymously",
            )
