"""The one exception tree of tailor.

Every error tailor raises derives from :class:`TailorError`. Errors of the libraries
underneath (the HTTP client, the JSON decoder, the JWT library) are translated into this tree
at the boundary where they occur, with the original kept as ``__cause__``::

    TailorError
    ├── ConfigError                 bad configuration; stops startup, names the key
    ├── ClientDisconnected          the client left before its request body had all arrived
    ├── HTTPProblem                 a client-facing answer (RFC 9457) raised from a handler
    │   ├── BadRequest              400, names the offending parameter
    │   ├── Unauthorized            401, carries a WWW-Authenticate challenge
    │   ├── NotFound                404
    │   ├── UnsupportedMediaType    415, a body not in the media type the route reads
    │   ├── PreconditionRequired    428, a command that must name the version it changes
    │   └── CommandRefused          a service's 4xx to a command, relayed (tailor.commands)
    ├── InvalidCredential           a presented credential was refused: 401
    │   ├── InvalidToken            a bearer JWT failed verification
    │   ├── InvalidInternalToken    an internal token failed verification (services)
    │   └── StaleSession            a session id the store does not know: 401, cookie cleared
    ├── CredentialsUnavailable      credentials cannot be checked right now: 503
    │   ├── KeysUnavailable         the issuer's JWKS cannot be fetched
    │   ├── InternalKeysUnavailable the token service's JWKS cannot be fetched (services)
    │   └── RegistryUnavailable     the app registry cannot answer (entitlements)
    ├── CrossSiteRequest            an unsafe request without the session's CSRF proof: 403
    ├── CacheBackendError           the cache backend could not answer: served uncached
    ├── BackendUnavailable          the rate limiter's counters cannot be read or written
    ├── MalformedEvent              a message on the invalidation channel is not an event
    ├── MalformedBody               a request body is not the coding it names: 400
    ├── UnknownPart                 a shape or part read a part that has no value (a BFF bug)
    ├── ContractMismatch            a consumed struct a gRPC message type cannot fill
    └── UpstreamError               a call to an internal service failed
        ├── UpstreamTimeout         the call outlived its timeout or the endpoint deadline
        ├── UpstreamUnavailable     connection refused or reset, or any transport failure
        │   ├── CircuitOpen         the upstream's breaker is open: no call made (503)
        │   └── BulkheadFull        too many calls to it in flight: no call made
        ├── UpstreamStatusError     the service answered with an unexpected status
        │   └── GrpcStatusError     a gRPC status (code, message, google.rpc details)
        ├── UpstreamDecodeError     the body was not the JSON shape the BFF consumes
        ├── FanOutLimitExceeded     one request tried more inward calls than allowed
        └── TokenExchangeError      the token service refused an internal-token exchange

Each class outside this module lives beside the code that raises it:
``tailor.resilience.errors`` (``CircuitOpen``, ``BulkheadFull``, ``FanOutLimitExceeded``),
``tailor.auth.authenticator`` (the two credential bases), ``tailor.auth.jwt``
(``InvalidToken``, ``KeysUnavailable``), ``tailor.auth.internal`` (``TokenExchangeError``,
``InvalidInternalToken``, ``InternalKeysUnavailable``), ``tailor.auth.apps``
(``RegistryUnavailable``), ``tailor.auth.session`` (``CrossSiteRequest``, ``StaleSession``),
``tailor.cache.backend`` (``CacheBackendError``), ``tailor.cache.invalidation``
(``MalformedEvent``), ``tailor.compression.codecs`` (``MalformedBody``),
``tailor.aggregate.plan`` (``UnknownPart``) and ``tailor.ratelimit.gcra``
(``BackendUnavailable``), ``tailor.upstream.grpc.status`` (``GrpcStatusError``) and
``tailor.upstream.grpc.messages`` (``ContractMismatch``).

An expected denial inside the pipeline (401, 413, 429, ...) is a response, not an exception:
stages answer locally. ``HTTPProblem`` exists for handlers, where raising is the natural way
to stop. An ``UpstreamError`` reaching the error stage becomes a 502 or 504 problem.
"""

from __future__ import annotations


class TailorError(Exception):
    """Base of every error raised by tailor."""


class ConfigError(TailorError):
    """Configuration is invalid. The message names the offending key, e.g. ``listen.port``."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"invalid config at '{key}': {message}")
        self.key = key


class ClientDisconnected(TailorError):
    """The client closed its connection before its request's body had all arrived."""


class HTTPProblem(TailorError):
    """A problem the client caused, answered as ``application/problem+json``."""

    status: int = 400
    title: str = "Bad Request"

    def __init__(self, detail: str, *, headers: tuple[tuple[str, str], ...] = ()) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = headers


class BadRequest(HTTPProblem):
    status = 400
    title = "Bad Request"

    def __init__(self, detail: str, *, parameter: str | None = None) -> None:
        super().__init__(detail)
        self.parameter = parameter


class Unauthorized(HTTPProblem):
    status = 401
    title = "Unauthorized"


class NotFound(HTTPProblem):
    status = 404
    title = "Not Found"


class UnsupportedMediaType(HTTPProblem):
    status = 415
    title = "Unsupported Media Type"


class PreconditionRequired(HTTPProblem):
    """428: an edit of a versioned resource came without ``If-Match`` (RFC 6585 s3)."""

    status = 428
    title = "Precondition Required"


class CommandRefused(HTTPProblem):
    """A service refused a command with a 4xx (not found, forbidden, a lost update, ...):
    relayed with the service's status and its ``detail``, which services write for clients.

    >>> CommandRefused(412, "the playlist changed since v3").status
    412
    """

    def __init__(
        self, status: int, detail: str, *, headers: tuple[tuple[str, str], ...] = ()
    ) -> None:
        super().__init__(detail, headers=headers)
        self.status = status


class UpstreamError(TailorError):
    """A call to an internal service failed. ``upstream`` is the registry name."""

    reason: str = "error"

    def __init__(self, upstream: str, message: str) -> None:
        super().__init__(f"{upstream}: {message}")
        self.upstream = upstream


class UpstreamTimeout(UpstreamError):
    reason = "timeout"


class UpstreamUnavailable(UpstreamError):
    reason = "unavailable"


class UpstreamStatusError(UpstreamError):
    """An upstream answered ``status``; ``message`` is the service's own text when its wire
    carries one apart from the body (a gRPC status message), else None."""

    reason = "status"
    message: str | None = None

    def __init__(self, upstream: str, status: int) -> None:
        super().__init__(upstream, f"unexpected status {status}")
        self.status = status


class UpstreamDecodeError(UpstreamError):
    reason = "malformed"
