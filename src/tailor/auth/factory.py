"""Which authenticators a BFF profile uses, built from its config, in the order they are
tried. Add a credential type here (and its config section), not in the stage."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tailor.auth.authenticator import Authenticator
from tailor.auth.jwt import BearerJWTAuthenticator, JWTVerifier

if TYPE_CHECKING:
    from tailor.pipeline import BuildContext


def build_authenticators(ctx: BuildContext) -> list[Authenticator]:
    cfg = ctx.config
    authenticators: list[Authenticator] = []
    if cfg.auth.jwt is not None:
        fetch = ctx.client.fetcher(cfg.auth.jwt.jwks_upstream, cfg.auth.jwt.jwks_path)
        verifier = JWTVerifier(cfg.auth.jwt, fetch)
        authenticators.append(BearerJWTAuthenticator(verifier, cfg.name))
    return authenticators


def upstreams_used(ctx_config: object) -> set[str]:
    """Upstreams the configured authenticators call (checked against the registry)."""
    from tailor.config import Config

    assert isinstance(ctx_config, Config)
    used: set[str] = set()
    if ctx_config.auth.jwt is not None:
        used.add(ctx_config.auth.jwt.jwks_upstream)
    return used
