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
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import msgspec

from tailor.clients.identity import ClientSettings
from tailor.errors import ConfigError
from tailor.extras import check_extras
from tailor.govern.settings import Governance
from tailor.resilience.settings import ResilienceSettings
from tailor.validation import Count, NonNegative, Port, Positive, convert, deep_merge

#: A name made of letters, digits, '_', '-' and '.' (a client id, a policy name).
_Token = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_.-]{1,128}$")]


class TLS(msgspec.Struct, forbid_unknown_fields=True):
    """Serve over TLS. With ``client_ca_file`` the handshake asks for a client certificate and
    verifies it against that CA (mutual TLS); ``client_cert`` says whether one is required."""

    cert_file: str
    key_file: str
    client_ca_file: str | None = None
    client_cert: Literal["optional", "required"] = "optional"


class Listen(msgspec.Struct, forbid_unknown_fields=True):
    host: str = "127.0.0.1"
    port: Port = 8080
    tls: TLS | None = None
    #: With ``tls``: serve TLS on this port, and clear text (HTTP/1.1, h2c) on ``port``.
    #: Without it, ``tls`` applies to ``port``. tailor's server only.
    tls_port: Port | None = None


class Admin(msgspec.Struct, forbid_unknown_fields=True):
    """The admin listener (metrics, health). Separate from the public one by design. With
    ``port = 0`` (the default) each worker takes a free port of the system's choosing and
    logs it, so BFFs started with defaults on one host never collide; set a port to scrape
    at a known address (with N workers, ``port`` .. ``port + N - 1``)."""

    host: str = "127.0.0.1"
    port: Port = 0
    enabled: bool = True


class Limits(msgspec.Struct, forbid_unknown_fields=True):
    max_body_bytes: Count = 64 * 1024
    max_header_bytes: Count = 8 * 1024
    receive_timeout_s: Positive = 5.0
    header_read_timeout_s: Positive = 5.0


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
    trusted_proxies: Annotated[int, msgspec.Meta(ge=0, le=16)] = 0
    # Hosts an X-Forwarded-Host from a trusted proxy may name; any other value is ignored, so
    # it cannot poison a cache key or a redirect.
    allowed_hosts: list[str] = msgspec.field(default_factory=list)

    def __post_init__(self) -> None:
        self.allowed_hosts = [h.lower() for h in self.allowed_hosts]


#: Where a JWT verifier's keys can come from: exactly one is set.
JWT_KEY_SOURCES = ("jwks_upstream", "jwks_url", "jwks_file", "public_key_file")


class JWTAuth(msgspec.Struct, forbid_unknown_fields=True):
    """Bearer JWTs verified against the issuer's keys. The algorithm is pinned here, never
    read from the token. The keys come from exactly one source: ``jwks_upstream`` (a service
    of the config's ``upstreams``, at ``jwks_path``), ``jwks_url`` (your identity provider's
    JWKS, fetched within ``jwks_timeout_s`` and at most ``jwks_max_bytes``), ``jwks_file`` (a
    JWKS document on disk) or ``public_key_file`` (one PEM public key, which tokens name by
    ``public_key_kid``). Every source is read again when a token names a kid not seen yet,
    at most once per ``jwks_refresh_min_interval_s``, so keys rotate without a restart."""

    issuer: str
    audience: str
    jwks_upstream: str | None = None
    jwks_path: str = "/.well-known/jwks.json"
    jwks_url: str | None = None
    jwks_file: str | None = None
    public_key_file: str | None = None
    public_key_kid: str | None = None
    jwks_timeout_s: Positive = 2.0
    jwks_max_bytes: Count = 256 * 1024
    #: Asymmetric algorithms only: a shared secret would let any verifier mint tokens.
    algorithm: Literal["RS256", "RS384", "RS512", "ES256", "ES384", "EdDSA"] = "RS256"
    leeway_s: float = 30.0
    #: Tokens living longer than this (``exp - iat``) are refused: a stolen long-lived token
    #: is a long-lived breach. A day covers common identity providers' access tokens.
    max_lifetime_s: Positive = 86_400.0
    jwks_refresh_min_interval_s: float = 30.0
    #: After a failed JWKS fetch, none is tried for this long (callers get 503 at once).
    jwks_retry_after_failure_s: Positive = 1.0
    cache_size: Count = 10_000

    def __post_init__(self) -> None:
        sources = [key for key in JWT_KEY_SOURCES if getattr(self, key) is not None]
        if not sources:
            raise ConfigError("auth.jwt", f"set one key source: {', '.join(JWT_KEY_SOURCES)}")
        if len(sources) > 1:
            raise ConfigError(f"auth.jwt.{sources[1]}", f"set one key source, not {sources[0]} too")
        if self.jwks_url is not None:
            parts = urlsplit(self.jwks_url)
            if parts.scheme not in {"http", "https"} or not parts.hostname:
                raise ConfigError("auth.jwt.jwks_url", "must be an http(s) URL")
        if (self.public_key_file is None) != (self.public_key_kid is None):
            raise ConfigError("auth.jwt.public_key_kid", "goes with public_key_file, and only")


class SessionAuth(msgspec.Struct, forbid_unknown_fields=True):
    """A server-side session behind a cookie (browsers). ``store`` is ``memory`` (one process)
    or ``redis`` (``state.redis_url``: shared, so a logout holds on every instance). Unsafe
    methods need the session's CSRF token in ``csrf_header`` and an ``Origin`` in
    ``allowed_origins``. A ``__Host-`` cookie must be ``secure`` (browsers refuse it
    otherwise), so a local plain-http demo uses a plain name and ``secure = false``."""

    allowed_origins: list[str] = msgspec.field(default_factory=list)
    cookie_name: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_-]{1,64}$")] = "__Host-session"
    secure: bool = True
    ttl_s: Positive = 8 * 3600
    store: Literal["memory", "redis"] = "memory"
    csrf_header: str = "x-csrf-token"
    client_id: str = ""
    #: The memory store's bound (the oldest session is evicted past it); unused with redis.
    max_sessions: Count = 100_000

    def __post_init__(self) -> None:
        if self.cookie_name.startswith("__Host-") and not self.secure:
            raise ValueError("cookie_name must not use the __Host- prefix without secure")
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
    cache_ttl_s: Annotated[float, msgspec.Meta(ge=0, le=300)] = 10.0
    cache_size: Count = 10_000


class MTLSAuth(msgspec.Struct, forbid_unknown_fields=True):
    """Client certificates (verified in the TLS handshake against ``listen.tls``'s CA) mapped
    to a partner by their subject common name, through the identity service."""

    identity_upstream: str = "accounts"
    identity_path: str = "/partners/by-certificate"
    cache_ttl_s: float = 60.0


class Auth(msgspec.Struct, forbid_unknown_fields=True):
    """How callers authenticate. A BFF with none of ``jwt``, ``session``, ``api_key`` or
    ``mtls`` does not start while a route requires authentication (routes do unless they say
    ``auth=False``), unless ``anonymous = true`` says on purpose that every route is served
    to anyone."""

    jwt: JWTAuth | None = None
    session: SessionAuth | None = None
    api_key: APIKeyAuth | None = None
    mtls: MTLSAuth | None = None
    anonymous: bool = False

    def __post_init__(self) -> None:
        if self.anonymous and self.configured():
            raise ValueError("anonymous must be false when an authenticator is configured")

    def configured(self) -> bool:
        """Whether any authenticator is configured."""
        return any(a is not None for a in (self.jwt, self.session, self.api_key, self.mtls))


class Entitlements(msgspec.Struct, forbid_unknown_fields=True):
    """The app registry check after authentication: the caller's app must be active, allowed
    on this BFF (``bff``, default the config's ``name``) and entitled to the route.
    ``on_unavailable``: ``closed`` (503) or ``open`` (let the request through, logged)."""

    enabled: bool = False
    registry_upstream: str = "accounts"
    registry_path: str = "/apps/{client_id}"
    cache_ttl_s: float = 5.0
    on_unavailable: Literal["open", "closed"] = "closed"
    bff: str = ""

    def __post_init__(self) -> None:
        if "{client_id}" not in self.registry_path:
            raise ValueError("registry_path must contain {client_id}")


class UpstreamClientSettings(msgspec.Struct, forbid_unknown_fields=True):
    #: "http1": keep-alive HTTP/1.1 on the worker's event loop (tailor.upstream.http1_transport;
    #: docs/benchmarks.md compares the two); "pyreqwest": hyper on a Tokio thread (adds HTTP/2
    #: and hyper's pool).
    transport: Literal["http1", "pyreqwest"] = "http1"
    max_connections: Count = 512  # per upstream origin
    connect_timeout_s: float = 1.0
    pool_idle_timeout_s: float = 50.0
    default_timeout_s: float = 2.0
    max_response_bytes: Count = 16 * 1024 * 1024


#: http(s): JSON over HTTP; grpc: gRPC over HTTP/2 (grpcs: over TLS); connect: the Connect
#: protocol over HTTP/1.1.
UPSTREAM_SCHEMES = frozenset({"http", "https", "grpc", "grpcs", "connect"})
_RPC = frozenset({"grpc", "grpcs", "connect"})


class GrpcTLS(msgspec.Struct, forbid_unknown_fields=True):
    """How tailor checks a ``grpcs://`` upstream and proves itself to it: the server's
    certificate and host name are verified against ``ca_file`` (PEM; the system's CAs when
    unset), and with ``cert_file`` and ``key_file`` tailor presents a client certificate to the
    services that ask for one (mutual TLS). Each file must be readable at startup."""

    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None

    def __post_init__(self) -> None:
        if self.cert_file is not None and self.key_file is None:
            raise ValueError("key_file must be set with cert_file (the client certificate's key)")
        if self.key_file is not None and self.cert_file is None:
            raise ValueError("cert_file must be set with key_file (the client certificate)")
        for name in ("ca_file", "cert_file", "key_file"):
            path = getattr(self, name)
            if path is not None:
                try:
                    Path(path).open("rb").close()
                except OSError as exc:
                    raise ValueError(f"{name} cannot be read: {path}: {exc.strerror}") from None


class GrpcSettings(msgspec.Struct, forbid_unknown_fields=True):
    """The gRPC upstreams (``upstreams.<name> = "grpc://host:port"``, ``"grpcs://..."`` over
    TLS, or ``"connect://..."``, docs/grpc.md): the compiled descriptor sets (``protoc
    --include_imports --descriptor_set_out``), the service each such upstream serves, e.g.
    ``users = "waveform.users.v1.UsersService"``, how TLS upstreams are verified and how idle
    connections are kept alive."""

    descriptor_sets: list[str] = msgspec.field(default_factory=list)
    services: dict[str, str] = msgspec.field(default_factory=dict)
    tls: GrpcTLS = msgspec.field(default_factory=GrpcTLS)
    #: An HTTP/2 PING on a connection nothing has arrived on for this long (0: never), with or
    #: without calls waiting on it; no answer within ``keepalive_timeout_s`` closes it and
    #: fails its calls as unavailable. 30 s: below load balancers' and NATs' idle timeouts; a
    #: vanished peer is found 40 to 70 s after its last frame, and an idle connection is pinged
    #: every 40 s (docs/grpc.md, "TLS and keepalive").
    keepalive_interval_s: NonNegative = 30.0
    #: 10 s, not grpc's 20: a peer on the private network answers a PING in a millisecond;
    #: ten seconds without a frame is a peer gone, not a slow one.
    keepalive_timeout_s: Positive = 10.0


class MetricsSettings(msgspec.Struct, forbid_unknown_fields=True):
    enabled: bool = True


class TokenExchange(msgspec.Struct, forbid_unknown_fields=True):
    """Inward calls carry an internal token from the token service (RFC 8693 exchange),
    never the client's credential. The BFF authenticates as ``client_id`` with
    ``client_secret``, or with the secret in the environment variable ``client_secret_env``
    (checked at startup). Tokens are cached until ``refresh_before_s`` before expiry."""

    client_id: _Token
    client_secret: str | None = None
    client_secret_env: str | None = None
    tokens_upstream: str = "tokens"
    token_path: str = "/token"
    refresh_before_s: Annotated[float, msgspec.Meta(ge=0, lt=60)] = 10.0
    timeout_s: Positive = 1.0
    cache_size: Count = 100_000

    def __post_init__(self) -> None:
        if (self.client_secret is None) == (self.client_secret_env is None):
            raise ValueError("client_secret must be set, or client_secret_env (not both)")
        if self.client_secret_env is not None and not os.environ.get(self.client_secret_env):
            raise ValueError("client_secret_env must name an environment variable that is set")

    def secret(self) -> str:
        if self.client_secret is not None:
            return self.client_secret
        assert self.client_secret_env is not None
        return os.environ[self.client_secret_env]

    def __repr__(self) -> str:  # the secret stays out of logs
        return f"TokenExchange(client_id={self.client_id!r}, tokens={self.tokens_upstream!r})"


class State(msgspec.Struct, forbid_unknown_fields=True):
    """Shared state. With ``redis_url`` unset, every backend is in-memory (one process)."""

    redis_url: Annotated[str, msgspec.Meta(pattern=r"^(redis|rediss|unix)://")] | None = None


_POLICY_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")
#: A rate window: a second to a month.
_Window = Annotated[int, msgspec.Meta(ge=1, le=86_400 * 31)]


class RatePolicy(msgspec.Struct, forbid_unknown_fields=True):
    """One quota: ``limit`` requests per ``window_s`` seconds for each ``key`` (the client IP,
    the user or the app), on routes of the listed ``classes`` (all when empty). ``tiers``
    overrides the limit for an app's tier (the entitlements stage sets it; "default" when
    the caller has none)."""

    key: Literal["ip", "user", "app"]
    #: At least 1: a caller to refuse outright is refused by entitlements, not by a quota.
    limit: Count
    window_s: _Window = 60
    classes: list[str] = msgspec.field(default_factory=list)
    tiers: dict[str, Count] = msgspec.field(default_factory=dict)


class AuthFailures(msgspec.Struct, forbid_unknown_fields=True):
    """Failed authentication per client IP (the ``authguard`` stage, ahead of
    ``authenticate``): ``limit`` failures per ``window_s`` seconds, then 429 until the quota
    refills. ``max_blocked`` bounds the local cache of IPs known to be over it."""

    limit: Count = 100  # omit the section to turn it off
    window_s: _Window = 600
    max_blocked: Count = 10_000


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
    backend: Literal["memory", "redis"] = "memory"
    on_backend_error: Literal["fail_open", "fail_closed"] = "fail_open"
    backend_timeout_s: Annotated[float, msgspec.Meta(gt=0, le=5)] = 0.25
    backend_retry_s: Annotated[float, msgspec.Meta(ge=0, le=60)] = 1.0
    key_prefix: str = "tailor:rl"
    max_keys: Count = 100_000
    route_classes: dict[str, str] = msgspec.field(default_factory=dict)
    policies: dict[str, RatePolicy] = msgspec.field(default_factory=dict)
    auth_failures: AuthFailures | None = None

    def __post_init__(self) -> None:
        for name in self.policies:
            if not _POLICY_NAME.fullmatch(name):
                raise ConfigError(
                    f"rate_limit.policies.{name}", "name it with letters, digits, '_', '-', '.'"
                )
        # With both, the RateLimit header items of the two would be ambiguous.
        if self.auth_failures is not None and "auth-failures" in self.policies:
            raise ConfigError(
                "rate_limit.policies.auth-failures",
                "the name is taken by rate_limit.auth_failures",
            )


class Idempotency(msgspec.Struct, forbid_unknown_fields=True):
    """``Idempotency-Key`` on commands (the ``idempotency`` stage, :mod:`tailor.commands`):
    a retry with the same key (per caller) answers the first result for ``ttl_s`` seconds;
    the same key with another body is 422, one still in flight is 409 (held at most
    ``in_flight_s``: a process that died mid-command frees its keys then). ``backend``:
    ``memory`` (this process, at most ``max_keys``) or ``redis`` (``state.redis_url``: every
    instance). ``required`` refuses a command without a key (400). When the backend cannot
    answer in ``backend_timeout_s``, the command is refused with 503 (never run twice)."""

    enabled: bool = True
    backend: Literal["memory", "redis"] = "memory"
    methods: list[Literal["POST", "PUT", "PATCH", "DELETE"]] = msgspec.field(
        default_factory=lambda: ["POST"]
    )
    ttl_s: Annotated[int, msgspec.Meta(ge=1, le=7 * 86_400)] = 86_400
    in_flight_s: Annotated[float, msgspec.Meta(gt=0, le=600)] = 30.0
    required: bool = False
    max_keys: Count = 100_000
    key_prefix: str = "tailor:idem"
    backend_timeout_s: Annotated[float, msgspec.Meta(gt=0, le=5)] = 0.25


class Commands(msgspec.Struct, forbid_unknown_fields=True):
    """Edge settings of commands (writes): ``idempotency`` is off when absent."""

    idempotency: Idempotency | None = None


class CacheRoute(msgspec.Struct, forbid_unknown_fields=True):
    """A client profile's timings for one cached route, laid over the route's own policy
    (``cache.routes."/v1/home".ttl_s = 60``)."""

    ttl_s: Positive | None = None
    stale_while_revalidate_s: NonNegative | None = None
    stale_if_error_s: NonNegative | None = None


class Cache(msgspec.Struct, forbid_unknown_fields=True):
    """The edge cache; routes opt in with a ``CachePolicy``. ``backend``: ``memory`` (an LRU
    bounded by ``max_entries`` and ``max_bytes``, one per process) or ``redis`` (shared by
    every instance, ``state.redis_url``). With ``state.redis_url`` set, every instance
    subscribes to ``invalidation_channel`` and purges entries by tag. After a backend error
    the backend is skipped for ``backend_retry_s`` (requests go to the upstreams)."""

    enabled: bool = True
    backend: Literal["memory", "redis"] = "memory"
    max_entries: Count = 10_000
    max_bytes: Count = 32 * 1024 * 1024
    routes: dict[str, CacheRoute] = msgspec.field(default_factory=dict)
    invalidation_channel: str = "tailor:invalidate"
    backend_retry_s: NonNegative = 1.0


#: The content codings tailor compresses with, and decodes request bodies in.
Coding = Literal["zstd", "br", "gzip"]
_Level = Annotated[int, msgspec.Meta(ge=1, le=19)]
#: A media type to compress, or a family ("text/*"); never an event stream (see below).
_MediaType = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9!#$&^_.+-]+/(\*|[a-z0-9!#$&^_.+-]+)$")]


class CodingLevels(msgspec.Struct, forbid_unknown_fields=True):
    """A compression level per coding (zstd 1-19, brotli 1-11, gzip 1-9)."""

    zstd: _Level = 3
    br: Annotated[int, msgspec.Meta(ge=1, le=11)] = 5
    gzip: Annotated[int, msgspec.Meta(ge=1, le=9)] = 6


class Compression(msgspec.Struct, forbid_unknown_fields=True):
    """Content codings negotiated per request (RFC 9110 s12.5.3; the ``compress`` stage,
    docs/compression.md). ``codings`` is the server's preference, best first, for responses
    and the codings request bodies may arrive in (another is 415). A response is compressed
    when its media type is in ``content_types`` and it has ``min_bytes`` or more; an event
    stream, or anything already encoded, never is. ``levels`` is for responses compressed as
    they go out, ``cache_levels`` for the variants the edge cache stores when it fills an
    entry (once per fill, so it can afford more). A compressed request body may decode to at
    most ``max_decoded_bytes`` (413 past it, found while decoding, never after)."""

    enabled: bool = False
    codings: Annotated[list[Coding], msgspec.Meta(min_length=1)] = msgspec.field(
        default_factory=lambda: ["zstd", "br", "gzip"]
    )
    min_bytes: Annotated[int, msgspec.Meta(ge=0)] = 1024
    content_types: list[_MediaType] = msgspec.field(
        default_factory=lambda: [
            "application/json",
            "application/problem+json",
            "application/javascript",
            "application/xml",
            "image/svg+xml",
            "text/*",
        ]
    )
    levels: CodingLevels = msgspec.field(default_factory=CodingLevels)
    cache_levels: CodingLevels = msgspec.field(
        default_factory=lambda: CodingLevels(zstd=6, br=6, gzip=6)
    )
    max_decoded_bytes: Count = 1024 * 1024

    def __post_init__(self) -> None:
        if len(set(self.codings)) != len(self.codings):
            raise ValueError("codings must name each coding once")
        if "text/event-stream" in self.content_types:
            raise ValueError("content_types must not hold text/event-stream (never compressed)")


class Server(msgspec.Struct, forbid_unknown_fields=True):
    workers: Annotated[int, msgspec.Meta(ge=1, le=64)] = 1
    #: "http1": tailor's own HTTP/1.1 server (tailor.serve.http1, the fastest measured:
    #: docs/benchmarks.md). "rsgi" or "asgi": under granian.
    interface: Literal["http1", "rsgi", "asgi"] = "http1"
    #: The event loop of each worker. uvloop is the faster (docs/benchmarks.md); granian's
    #: "auto" does not pick it by itself.
    loop: Literal["uvloop", "asyncio"] = "uvloop"
    #: Freeze what startup built out of the garbage collector's reach, and collect young objects
    #: less often (Python's default threshold is 700): tailor.serve.collector says why.
    gc_freeze: bool = True
    gc_threshold: Annotated[int, msgspec.Meta(ge=100, le=1_000_000)] = 7000
    #: tailor's server: a full collection this often, so cycles a burst of failures left are
    #: freed though healthy traffic never fills the young generation (0: never).
    gc_interval_s: Annotated[float, msgspec.Meta(ge=0, le=3600)] = 10.0
    #: tailor's server: an idle kept-alive connection is closed after this long.
    keepalive_timeout_s: Annotated[float, msgspec.Meta(gt=0, le=3600)] = 60.0
    #: tailor's server, on SIGTERM: how long answers in progress may take to finish.
    shutdown_grace_s: Annotated[float, msgspec.Meta(ge=0, le=600)] = 10.0
    #: tailor's server, on SIGTERM: how long an idle connection stays open, so a request
    #: already on its way is answered (with connection: close) rather than crossing the close
    #: (0: closed at once). For a rolling restart: docs/rollout.md.
    drain_idle_s: Annotated[float, msgspec.Meta(ge=0, le=60)] = 0.0
    #: tailor's server: the kernel's queue of connections not yet accepted (the kernel caps it
    #: at net.core.somaxconn). The server empties it on every wake-up, so it holds what arrives
    #: during one turn of the event loop; a full queue drops connections, which clients retry
    #: a second or more later, far later than a turn (docs/resilience.md).
    backlog: Annotated[int, msgspec.Meta(ge=16, le=65535)] = 4096
    #: tailor's server: connections one worker holds at most; one more is answered 503 with
    #: Retry-After and closed, before any parsing.
    max_connections: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)] = 4096
    #: tailor's server: offer HTTP/2 on the same port (ALPN over TLS, prior knowledge in clear
    #: text), each stream through the same pipeline (tailor.serve.http2; needs tailor[http2]).
    http2: bool = False


class OpenAPI(msgspec.Struct, forbid_unknown_fields=True):
    """The BFF's OpenAPI 3.1 document (:mod:`tailor.openapi`, docs/openapi.md), generated from
    its routes and served without credentials at ``path`` ("": not served, the default)."""

    path: Annotated[str, msgspec.Meta(pattern=r"^(/[A-Za-z0-9_.-]+)*$")] = ""
    title: str = ""  # default: "<name> API"
    version: str = "1.0.0"
    description: str = ""


class Tracing(msgspec.Struct, forbid_unknown_fields=True):
    """W3C trace context and OTLP/HTTP span export (docs/observability.md). Off (not in the
    chain at all) unless ``endpoint`` is set: the collector's traces URL."""

    endpoint: Annotated[str, msgspec.Meta(pattern=r"^https?://[^/?#]+(/[^?#]*)?$")] | None = None
    #: Of the traces this BFF starts, the share it samples; a caller's decision is kept. Not 1:
    #: a sampled request costs far more than an unsampled one (docs/observability.md).
    sample_ratio: Annotated[float, msgspec.Meta(ge=0, le=1)] = 0.1
    #: Ended spans waiting for the exporter; past this they are dropped (counted).
    queue_size: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)] = 8192
    batch_size: Annotated[int, msgspec.Meta(ge=1, le=65536)] = 512
    export_interval_s: Annotated[float, msgspec.Meta(gt=0, le=60)] = 1.0
    export_timeout_s: Annotated[float, msgspec.Meta(gt=0, le=60)] = 2.0


class Logs(msgspec.Struct, forbid_unknown_fields=True):
    """``access``: one JSON line per request on the ``tailor.stages.access_log`` logger
    (stderr unless the application gives it a handler). Off by default: a line costs every
    request, and a process whose stderr nobody reads would block once the pipe is full."""

    access: bool = False


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
    grpc: GrpcSettings = msgspec.field(default_factory=GrpcSettings)
    metrics: MetricsSettings = msgspec.field(default_factory=MetricsSettings)
    server: Server = msgspec.field(default_factory=Server)
    state: State = msgspec.field(default_factory=State)
    token_exchange: TokenExchange | None = None
    cache: Cache = msgspec.field(default_factory=Cache)
    compression: Compression = msgspec.field(default_factory=Compression)
    rate_limit: RateLimit = msgspec.field(default_factory=RateLimit)
    commands: Commands = msgspec.field(default_factory=Commands)
    resilience: ResilienceSettings = msgspec.field(default_factory=ResilienceSettings)
    governance: Governance = msgspec.field(default_factory=Governance)
    tracing: Tracing = msgspec.field(default_factory=Tracing)
    logs: Logs = msgspec.field(default_factory=Logs)
    #: Client identification, deprecations and workarounds (tailor.clients); off when absent.
    clients: ClientSettings | None = None
    #: Settings of the stages a BFF adds (``BFF.add_stage``), one table per stage name: each
    #: is validated against that stage's own Struct when the chain is built.
    stages: dict[str, dict[str, Any]] = msgspec.field(default_factory=dict)
    openapi: OpenAPI = msgspec.field(default_factory=OpenAPI)

    @property
    def grpc_upstreams(self) -> list[str]:
        """The upstreams called over gRPC (``grpc://``) or the Connect protocol
        (``connect://``), sorted."""
        return sorted(n for n, url in self.upstreams.items() if url.split(":", 1)[0] in _RPC)

    def __post_init__(self) -> None:
        for name, url in self.upstreams.items():
            parts = urlsplit(url)
            if parts.scheme not in UPSTREAM_SCHEMES or not parts.hostname:
                raise ConfigError(
                    f"upstreams.{name}", f"'{url}' is not an http(s), grpc(s) or connect base URL"
                )
            if parts.query or parts.fragment:
                raise ConfigError(f"upstreams.{name}", "a base URL takes no query or fragment")
            if name in self.grpc_upstreams and name not in self.grpc.services:
                raise ConfigError(f"grpc.services.{name}", f"'{url}' needs its gRPC service named")
        if self.auth.mtls is not None and (
            self.listen.tls is None or self.listen.tls.client_ca_file is None
        ):
            raise ConfigError("auth.mtls", "needs listen.tls.client_ca_file (the partner CA)")
        if self.listen.tls_port is not None:
            if self.listen.tls is None:
                raise ConfigError("listen.tls_port", "needs listen.tls (the certificate)")
            if self.listen.tls_port == self.listen.port:
                raise ConfigError("listen.tls_port", "must differ from listen.port")
            if self.server.interface != "http1":
                raise ConfigError("listen.tls_port", "is served by tailor's server only")
        session = self.auth.session
        if session is not None and session.store == "redis" and self.state.redis_url is None:
            raise ConfigError("auth.session.store", "'redis' needs state.redis_url")
        idempotency = self.commands.idempotency
        if idempotency is not None and idempotency.backend == "redis" and not self.state.redis_url:
            raise ConfigError("commands.idempotency.backend", "'redis' needs state.redis_url")
        check_extras(self)


def build_config(data: dict[str, Any]) -> Config:
    """Validate a dict into a :class:`Config`, naming the key at fault."""
    return convert(data, Config)


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


def override(config: Config, changes: dict[str, Any]) -> Config:
    """``config`` with ``changes`` merged over it and validated again (a command line's flags
    over a config built elsewhere)."""
    return build_config(deep_merge(msgspec.to_builtins(config), changes))
