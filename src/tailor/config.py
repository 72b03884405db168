"""Typed configuration, validated once at startup.

A BFF ships its profile as a dict of defaults; a deployment file (TOML or JSON) is merged over
it. Anything wrong (a typo in a key, a port out of range, an upstream URL that is not http)
raises :class:`ConfigError` naming the key, and the process does not start.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import msgspec

from tailor.errors import ConfigError
from tailor.resilience.settings import ResilienceSettings


class TLS(msgspec.Struct, forbid_unknown_fields=True):
    """Serve over TLS. With ``client_ca_file`` the handshake asks for a client certificate and
    verifies it against that CA (mutual TLS); ``client_cert`` says whether one is required."""

    cert_file: str
    key_file: str
    client_ca_file: str | None = None
    client_cert: str = "optional"

    def __post_init__(self) -> None:
        if self.client_cert not in {"optional", "required"}:
            raise ValueError("client_cert must be 'optional' or 'required'")


class Listen(msgspec.Struct, forbid_unknown_fields=True):
    host: str = "127.0.0.1"
    port: int = 8080
    tls: TLS | None = None

    def __post_init__(self) -> None:
        _check_port(self.port)


class Admin(msgspec.Struct, forbid_unknown_fields=True):
    """The admin listener (metrics, health). Separate from the public one by design."""

    host: str = "127.0.0.1"
    port: int = 8180
    enabled: bool = True

    def __post_init__(self) -> None:
        _check_port(self.port)


class Limits(msgspec.Struct, forbid_unknown_fields=True):
    max_body_bytes: int = 64 * 1024
    max_header_bytes: int = 8 * 1024
    receive_timeout_s: float = 5.0
    header_read_timeout_s: float = 5.0

    def __post_init__(self) -> None:
        for key in ("max_body_bytes", "max_header_bytes"):
            if getattr(self, key) <= 0:
                raise ValueError(f"{key} must be positive")
        for key in ("receive_timeout_s", "header_read_timeout_s"):
            if getattr(self, key) <= 0:
                raise ValueError(f"{key} must be positive")


class Sanitize(msgspec.Struct, forbid_unknown_fields=True):
    # Headers that only tailor may set on an inward call; a client sending them is lying.
    internal_headers: list[str] = msgspec.field(
        default_factory=lambda: [
            "x-user-id",
            "x-viewer-country",
            "x-internal-token",
            "x-deadline-ms",
            "x-forwarded-user",
        ]
    )
    # How many reverse proxies of ours stand in front of the BFF. 0: the socket peer is the
    # client and every X-Forwarded-* header is ignored. N: the client is the right-most hop
    # of X-Forwarded-For that none of our N proxies wrote.
    trusted_proxies: int = 0
    # Hosts an X-Forwarded-Host from a trusted proxy may name; any other value is ignored, so
    # it cannot poison a cache key or a redirect.
    allowed_hosts: list[str] = msgspec.field(default_factory=list)

    def __post_init__(self) -> None:
        if not 0 <= self.trusted_proxies <= 16:
            raise ValueError("trusted_proxies must be between 0 and 16")
        self.allowed_hosts = [h.lower() for h in self.allowed_hosts]


class JWTAuth(msgspec.Struct, forbid_unknown_fields=True):
    """Bearer JWTs verified against the issuer's JWKS. The algorithm is pinned here, never
    read from the token."""

    issuer: str
    audience: str
    jwks_upstream: str = "accounts"
    jwks_path: str = "/.well-known/jwks.json"
    algorithm: str = "RS256"
    leeway_s: float = 30.0
    jwks_refresh_min_interval_s: float = 30.0
    #: After a failed JWKS fetch, none is tried for this long (callers get 503 at once).
    jwks_retry_after_failure_s: float = 1.0
    cache_size: int = 10_000

    def __post_init__(self) -> None:
        if self.algorithm not in {"RS256", "RS384", "RS512", "ES256", "ES384", "EdDSA"}:
            raise ValueError("algorithm must be an asymmetric JWS algorithm such as RS256")
        if self.cache_size < 1:
            raise ValueError("cache_size must be at least 1")
        if not self.jwks_retry_after_failure_s > 0:
            raise ValueError("jwks_retry_after_failure_s must be greater than 0")


class SessionAuth(msgspec.Struct, forbid_unknown_fields=True):
    """A server-side session behind a cookie (browsers). ``store`` is ``memory`` (one process)
    or ``redis`` (``state.redis_url``: shared, so a logout holds on every instance). Unsafe
    methods need the session's CSRF token in ``csrf_header`` and an ``Origin`` in
    ``allowed_origins``. A ``__Host-`` cookie must be ``secure`` (browsers refuse it
    otherwise), so a local plain-http demo uses a plain name and ``secure = false``."""

    allowed_origins: list[str] = msgspec.field(default_factory=list)
    cookie_name: str = "__Host-session"
    secure: bool = True
    ttl_s: float = 8 * 3600
    store: str = "memory"
    csrf_header: str = "x-csrf-token"
    client_id: str = ""
    #: The memory store's bound (the oldest session is evicted past it); unused with redis.
    max_sessions: int = 100_000

    def __post_init__(self) -> None:
        if self.store not in {"memory", "redis"}:
            raise ValueError("store must be 'memory' or 'redis'")
        if self.max_sessions < 1:
            raise ValueError("max_sessions must be at least 1")
        if self.cookie_name.startswith("__Host-") and not self.secure:
            raise ValueError("cookie_name must not use the __Host- prefix without secure")
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", self.cookie_name):
            raise ValueError("cookie_name must be a plain token")
        if self.ttl_s <= 0:
            raise ValueError("ttl_s must be positive")
        for origin in self.allowed_origins:
            parts = urlsplit(origin)
            if parts.scheme not in {"http", "https"} or not parts.netloc or parts.path:
                raise ValueError("allowed_origins must hold origins such as https://host:port")


class APIKeyAuth(msgspec.Struct, forbid_unknown_fields=True):
    """Partner API keys in a header, verified by the key store; a verdict (good or bad) is
    cached for ``cache_ttl_s``, so a revoked key stops working within that time."""

    header: str = "x-api-key"
    verify_upstream: str = "accounts"
    verify_path: str = "/keys/verify"
    cache_ttl_s: float = 10.0
    cache_size: int = 10_000

    def __post_init__(self) -> None:
        if not 0 <= self.cache_ttl_s <= 300:
            raise ValueError("cache_ttl_s must be between 0 and 300")
        if self.cache_size < 1:
            raise ValueError("cache_size must be at least 1")


class MTLSAuth(msgspec.Struct, forbid_unknown_fields=True):
    """Client certificates (verified in the TLS handshake against ``listen.tls``'s CA) mapped
    to a partner by their subject common name, through the identity service."""

    identity_upstream: str = "accounts"
    identity_path: str = "/partners/by-certificate"
    cache_ttl_s: float = 60.0


class Auth(msgspec.Struct, forbid_unknown_fields=True):
    jwt: JWTAuth | None = None
    session: SessionAuth | None = None
    api_key: APIKeyAuth | None = None
    mtls: MTLSAuth | None = None


class Entitlements(msgspec.Struct, forbid_unknown_fields=True):
    """The app registry check after authentication: the caller's app must be active, allowed
    on this BFF (``bff``, default the config's ``name``) and entitled to the route.
    ``on_unavailable``: ``closed`` (503) or ``open`` (let the request through, logged)."""

    enabled: bool = False
    registry_upstream: str = "accounts"
    registry_path: str = "/apps/{client_id}"
    cache_ttl_s: float = 5.0
    on_unavailable: str = "closed"
    bff: str = ""

    def __post_init__(self) -> None:
        if self.on_unavailable not in {"open", "closed"}:
            raise ValueError("on_unavailable must be 'open' or 'closed'")
        if "{client_id}" not in self.registry_path:
            raise ValueError("registry_path must contain {client_id}")


class UpstreamClientSettings(msgspec.Struct, forbid_unknown_fields=True):
    #: "http1": keep-alive HTTP/1.1 on the worker's event loop (tailor.upstream.http1_transport,
    #: the fastest measured); "pyreqwest": hyper on a Tokio thread (adds HTTP/2 and hyper's pool).
    transport: str = "http1"
    max_connections: int = 512  # per upstream origin
    connect_timeout_s: float = 1.0
    pool_idle_timeout_s: float = 50.0
    default_timeout_s: float = 2.0
    max_response_bytes: int = 16 * 1024 * 1024

    def __post_init__(self) -> None:
        if self.transport not in {"http1", "pyreqwest"}:
            raise ValueError("transport must be 'http1' or 'pyreqwest'")
        if self.max_connections < 1:
            raise ValueError("max_connections must be at least 1")
        if self.max_response_bytes < 1:
            raise ValueError("max_response_bytes must be at least 1")


class Metrics(msgspec.Struct, forbid_unknown_fields=True):
    enabled: bool = True


class TokenExchange(msgspec.Struct, forbid_unknown_fields=True):
    """Inward calls carry an internal token from the token service (RFC 8693 exchange),
    never the client's credential. The BFF authenticates as ``client_id`` with
    ``client_secret``, or with the secret in the environment variable ``client_secret_env``
    (checked at startup). Tokens are cached until ``refresh_before_s`` before expiry."""

    client_id: str
    client_secret: str | None = None
    client_secret_env: str | None = None
    tokens_upstream: str = "tokens"
    token_path: str = "/token"
    refresh_before_s: float = 10.0
    timeout_s: float = 1.0
    cache_size: int = 100_000

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,128}", self.client_id):
            raise ValueError("client_id must be a plain token")
        if (self.client_secret is None) == (self.client_secret_env is None):
            raise ValueError("client_secret must be set, or client_secret_env (not both)")
        if self.client_secret_env is not None and not os.environ.get(self.client_secret_env):
            raise ValueError("client_secret_env must name an environment variable that is set")
        if not 0 <= self.refresh_before_s < 60:
            raise ValueError("refresh_before_s must be between 0 and 60")
        if self.timeout_s <= 0 or self.cache_size <= 0:
            raise ValueError("timeout_s must be positive, and so must cache_size")

    def secret(self) -> str:
        if self.client_secret is not None:
            return self.client_secret
        assert self.client_secret_env is not None
        return os.environ[self.client_secret_env]

    def __repr__(self) -> str:  # the secret stays out of logs
        return f"TokenExchange(client_id={self.client_id!r}, tokens={self.tokens_upstream!r})"


class State(msgspec.Struct, forbid_unknown_fields=True):
    """Shared state. With ``redis_url`` unset, every backend is in-memory (one process)."""

    redis_url: str | None = None

    def __post_init__(self) -> None:
        if self.redis_url is not None and not self.redis_url.startswith(
            ("redis://", "rediss://", "unix://")
        ):
            raise ValueError("redis_url must be a redis://, rediss:// or unix:// URL")


RATE_KEYS = ("ip", "user", "app")
_POLICY_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")


class RatePolicy(msgspec.Struct, forbid_unknown_fields=True):
    """One quota: ``limit`` requests per ``window_s`` seconds for each ``key`` (the client IP,
    the user or the app), on routes of the listed ``classes`` (all when empty). ``tiers``
    overrides the limit for an app's tier (the entitlements stage sets it; "default" when
    the caller has none)."""

    key: str
    limit: int
    window_s: int = 60
    classes: list[str] = msgspec.field(default_factory=list)
    tiers: dict[str, int] = msgspec.field(default_factory=dict)

    def check(self, at: str) -> None:
        """Checked by :class:`RateLimit`, which knows the policy's name for the error."""
        if self.key not in RATE_KEYS:
            raise ConfigError(f"{at}.key", f"must be one of {', '.join(RATE_KEYS)}")
        if self.limit < 1:
            raise ConfigError(f"{at}.limit", "must be at least 1 (refuse callers by entitlements)")
        if not 1 <= self.window_s <= 86_400 * 31:
            raise ConfigError(f"{at}.window_s", "must be between 1 and 2678400 seconds")
        for tier, limit in self.tiers.items():
            if limit < 1:
                raise ConfigError(f"{at}.tiers.{tier}", "must be at least 1")


class AuthFailures(msgspec.Struct, forbid_unknown_fields=True):
    """Failed authentication per client IP (the ``authguard`` stage, ahead of
    ``authenticate``): ``limit`` failures per ``window_s`` seconds, then 429 until the quota
    refills. ``max_blocked`` bounds the local cache of IPs known to be over it."""

    limit: int = 100
    window_s: int = 600
    max_blocked: int = 10_000

    def check(self, at: str) -> None:
        """Checked by :class:`RateLimit`, which knows where this section sits."""
        if self.limit < 1:
            raise ConfigError(f"{at}.limit", "must be at least 1 (omit the section to turn off)")
        if not 1 <= self.window_s <= 86_400 * 31:
            raise ConfigError(f"{at}.window_s", "must be between 1 and 2678400 seconds")
        if self.max_blocked < 1:
            raise ConfigError(f"{at}.max_blocked", "must be at least 1")


class RateLimit(msgspec.Struct, forbid_unknown_fields=True):
    """Rate limiting (off when ``enabled`` is false or there are no ``policies``).

    ``route_classes`` maps ``"METHOD /template"`` (or ``"/template"`` for any method) to a
    route class; other routes are ``read`` (GET, HEAD, OPTIONS) or ``write``. With
    ``backend = "redis"`` the counters live in ``state.redis_url`` and are exact across
    processes; ``on_backend_error`` says what happens when Redis cannot answer in
    ``backend_timeout_s``: ``fail_open`` (serve, unlimited) or ``fail_closed`` (503).
    ``auth_failures`` (off when absent) limits failed authentication per client IP before
    ``authenticate`` runs, on the same backend.
    """

    enabled: bool = True
    backend: str = "memory"
    on_backend_error: str = "fail_open"
    backend_timeout_s: float = 0.25
    backend_retry_s: float = 1.0
    key_prefix: str = "tailor:rl"
    max_keys: int = 100_000
    route_classes: dict[str, str] = msgspec.field(default_factory=dict)
    policies: dict[str, RatePolicy] = msgspec.field(default_factory=dict)
    auth_failures: AuthFailures | None = None

    def __post_init__(self) -> None:
        if self.backend not in {"memory", "redis"}:
            raise ValueError("backend must be 'memory' or 'redis'")
        if self.on_backend_error not in {"fail_open", "fail_closed"}:
            raise ValueError("on_backend_error must be 'fail_open' or 'fail_closed'")
        if not 0 < self.backend_timeout_s <= 5:
            raise ValueError("backend_timeout_s must be in (0, 5]")
        if not 0 <= self.backend_retry_s <= 60:
            raise ValueError("backend_retry_s must be between 0 and 60")
        if self.max_keys < 1:
            raise ValueError("max_keys must be positive")
        for name, policy in self.policies.items():
            if not _POLICY_NAME.fullmatch(name):
                raise ConfigError(
                    f"rate_limit.policies.{name}", "name it with letters, digits, '_', '-', '.'"
                )
            policy.check(f"rate_limit.policies.{name}")
        if self.auth_failures is not None:
            self.auth_failures.check("rate_limit.auth_failures")
            if "auth-failures" in self.policies:  # its RateLimit header items would be ambiguous
                raise ConfigError(
                    "rate_limit.policies.auth-failures",
                    "the name is taken by rate_limit.auth_failures",
                )


class CacheRoute(msgspec.Struct, forbid_unknown_fields=True):
    """A client profile's timings for one cached route, laid over the route's own policy
    (``cache.routes."/v1/home".ttl_s = 60``)."""

    ttl_s: float | None = None
    stale_while_revalidate_s: float | None = None
    stale_if_error_s: float | None = None

    def __post_init__(self) -> None:
        if self.ttl_s is not None and self.ttl_s <= 0:
            raise ValueError("ttl_s must be positive")
        for key in ("stale_while_revalidate_s", "stale_if_error_s"):
            value = getattr(self, key)
            if value is not None and value < 0:
                raise ValueError(f"{key} must not be negative")


class Cache(msgspec.Struct, forbid_unknown_fields=True):
    """The edge cache; routes opt in with a ``CachePolicy``. ``backend``: ``memory`` (an LRU
    bounded by ``max_entries`` and ``max_bytes``, one per process) or ``redis`` (shared by
    every instance, ``state.redis_url``). With ``state.redis_url`` set, every instance
    subscribes to ``invalidation_channel`` and purges entries by tag. After a backend error
    the backend is skipped for ``backend_retry_s`` (requests go to the upstreams)."""

    enabled: bool = True
    backend: str = "memory"
    max_entries: int = 10_000
    max_bytes: int = 32 * 1024 * 1024
    routes: dict[str, CacheRoute] = msgspec.field(default_factory=dict)
    invalidation_channel: str = "tailor:invalidate"
    backend_retry_s: float = 1.0

    def __post_init__(self) -> None:
        if self.backend not in {"memory", "redis"}:
            raise ValueError("backend must be 'memory' or 'redis'")
        if self.max_entries <= 0:
            raise ValueError("max_entries must be positive")
        if self.max_bytes <= 0:
            raise ValueError("max_bytes must be positive")
        if self.backend_retry_s < 0:
            raise ValueError("backend_retry_s must not be negative")


class Server(msgspec.Struct, forbid_unknown_fields=True):
    workers: int = 1
    #: "http1": tailor's own HTTP/1.1 server (tailor.serve.http1; about 2.8x granian's request
    #: rate on a bare answer, docs/benchmarks.md). "rsgi" or "asgi": under granian.
    interface: str = "http1"
    #: The event loop of each worker. uvloop measured 35-40% more rps than asyncio on the
    #: mobile home (docs/benchmarks.md); granian's "auto" does not pick it by itself.
    loop: str = "uvloop"
    #: Freeze what startup built out of the garbage collector's reach, and collect young objects
    #: less often (Python's default threshold is 700): measured in tailor.serve.collector.
    gc_freeze: bool = True
    gc_threshold: int = 7000
    #: tailor's server: an idle kept-alive connection is closed after this long.
    keepalive_timeout_s: float = 60.0
    #: tailor's server, on SIGTERM: how long answers in progress may take to finish.
    shutdown_grace_s: float = 10.0

    def __post_init__(self) -> None:
        if not 100 <= self.gc_threshold <= 1_000_000:
            raise ValueError("gc_threshold must be between 100 and 1000000")
        if self.interface not in {"http1", "rsgi", "asgi"}:
            raise ValueError("interface must be 'http1', 'rsgi' or 'asgi'")
        if not 0 < self.keepalive_timeout_s <= 3600:
            raise ValueError("keepalive_timeout_s must be above 0 and at most 3600")
        if not 0 <= self.shutdown_grace_s <= 600:
            raise ValueError("shutdown_grace_s must be between 0 and 600")
        if self.loop not in {"uvloop", "asyncio"}:
            raise ValueError("loop must be 'uvloop' or 'asyncio'")
        if not 1 <= self.workers <= 64:
            raise ValueError("workers must be between 1 and 64")


class Config(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    listen: Listen = msgspec.field(default_factory=Listen)
    admin: Admin = msgspec.field(default_factory=Admin)
    limits: Limits = msgspec.field(default_factory=Limits)
    sanitize: Sanitize = msgspec.field(default_factory=Sanitize)
    auth: Auth = msgspec.field(default_factory=Auth)
    entitlements: Entitlements = msgspec.field(default_factory=Entitlements)
    upstreams: dict[str, str] = msgspec.field(default_factory=dict)
    client: UpstreamClientSettings = msgspec.field(default_factory=UpstreamClientSettings)
    metrics: Metrics = msgspec.field(default_factory=Metrics)
    server: Server = msgspec.field(default_factory=Server)
    state: State = msgspec.field(default_factory=State)
    token_exchange: TokenExchange | None = None
    cache: Cache = msgspec.field(default_factory=Cache)
    rate_limit: RateLimit = msgspec.field(default_factory=RateLimit)
    resilience: ResilienceSettings = msgspec.field(default_factory=ResilienceSettings)
    #: Settings of the stages a BFF adds (``BFF.add_stage``), one table per stage name: each
    #: is validated against that stage's own Struct when the chain is built.
    stages: dict[str, dict[str, Any]] = msgspec.field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, url in self.upstreams.items():
            parts = urlsplit(url)
            if parts.scheme not in {"http", "https"} or not parts.hostname:
                raise ConfigError(f"upstreams.{name}", f"'{url}' is not an http(s) base URL")
            if parts.query or parts.fragment:
                raise ConfigError(f"upstreams.{name}", "a base URL takes no query or fragment")
        if self.auth.mtls is not None and (
            self.listen.tls is None or self.listen.tls.client_ca_file is None
        ):
            raise ConfigError("auth.mtls", "needs listen.tls.client_ca_file (the partner CA)")
        session = self.auth.session
        if session is not None and session.store == "redis" and self.state.redis_url is None:
            raise ConfigError("auth.session.store", "'redis' needs state.redis_url")


def _check_port(port: int) -> None:
    if not 0 <= port <= 65535:
        raise ValueError("port must be between 0 and 65535")


_AT = re.compile(r"- at `\$\.?(?P<key>[^`]*)`")
_CHECKED = re.compile(r"([a-z_]+) must\b")


def build_config(data: dict[str, Any]) -> Config:
    """Validate a dict into a :class:`Config`, naming the key at fault."""
    return convert(data, Config)


T = TypeVar("T")


def convert(data: Any, into: type[T], at: str = "") -> T:
    """Validate ``data`` into ``into`` (a config section found at key ``at``), naming the key
    at fault."""
    try:
        return msgspec.convert(data, into)
    except ConfigError:
        raise
    except msgspec.ValidationError as exc:
        message = str(exc)
        match = _AT.search(message)
        key = match.group("key") if match else "<root>"
        key = re.sub(r"\[['\"]?([^\]'\"]+)['\"]?\]", r".\1", key).lstrip(".") or "<root>"
        if at:
            key = at if key == "<root>" else f"{at}.{key}"
        detail = _AT.sub("", message).strip()
        if "unknown field" in detail or "missing required field" in detail:
            field = re.search(r"`([^`]+)`", detail)
            if field:
                key = f"{key}.{field.group(1)}" if key != "<root>" else field.group(1)
        elif (checked := _CHECKED.match(detail)) and key != "<root>":
            # A section's own check ("port must be ...") names the field inside the section.
            key = f"{key}.{checked.group(1)}"
        raise ConfigError(key, detail) from exc


def load_config(path: str | Path | None, defaults: dict[str, Any]) -> Config:
    """Merge the file at ``path`` (TOML or JSON) over a BFF's profile defaults and validate."""
    data = dict(defaults)
    if path is not None:
        p = Path(path)
        try:
            text = p.read_text()
        except OSError as exc:
            raise ConfigError("<file>", f"cannot read {p}: {exc.strerror}") from exc
        try:
            loaded = tomllib.loads(text) if p.suffix == ".toml" else json.loads(text)
        except (ValueError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError("<file>", f"{p} is not valid {p.suffix.lstrip('.')}: {exc}") from exc
        if not isinstance(loaded, dict):
            raise ConfigError("<root>", "the config file must hold a table/object")
        data = deep_merge(data, loaded)
    return build_config(data)


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged
