"""Internal tokens: how a BFF speaks inward, and how a service checks who is speaking.

The client's credential ends at the edge. For each inward call the BFF exchanges *who the
caller is* (the verified principal's subject, or the BFF itself when there is no caller) for
a short-lived token for *one* upstream, from the token service (RFC 8693 token exchange,
the BFF authenticating with its own client id and secret). The token service caps what each
BFF may obtain, so a compromised BFF cannot mint its way beyond its allowance.

    TokenExchanger           one exchange: POST /token, Basic auth, form body
    TokenCache               (subject, audience) -> token until shortly before expiry;
                             concurrent misses for one key share one exchange
    TokenExchangeCredentials the upstream client's InwardCredentials: Authorization: Bearer
    InternalTokenVerifier    the service side: alg pinned, JWKS by kid, aud = the service

Services answer 401 to a request without a valid token; see ``docs/services.md``.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import quote, urlencode

import msgspec

from tailor.auth.authenticator import CredentialsUnavailable, InvalidCredential
from tailor.auth.jws import verify_jws
from tailor.auth.keyset import RETRY_AFTER_FAILURE_S, KeySet
from tailor.auth.principal import Principal
from tailor.errors import UpstreamError

if TYPE_CHECKING:
    from tailor.config import TokenExchange
    from tailor.observe.metrics import Metrics
    from tailor.upstream.registry import ServiceRegistry
    from tailor.upstream.transport import Transport

log = logging.getLogger("tailor.auth.internal")

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:token-exchange"
SUBJECT_TOKEN_TYPE = "urn:waveform:subject"

#: POST a form body with the given headers; returns (status, body). Raises UpstreamError.
Poster = Callable[[bytes, Sequence[tuple[str, str]]], Awaitable[tuple[int, bytes]]]
JWKSFetcher = Callable[[], Awaitable[bytes]]
Clock = Callable[[], float]


class TokenExchangeError(UpstreamError):
    """No internal token could be obtained for a call, so the call was not made."""

    reason = "token_exchange"


class InvalidInternalToken(InvalidCredential):
    """An internal token was presented and refused. The message stays server-side."""


class InternalKeysUnavailable(CredentialsUnavailable):
    """The token service's JWKS could not be fetched: no token can be checked right now."""


# -- the exchange --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    expires_in: float


class _Issued(msgspec.Struct):
    access_token: str
    expires_in: float


_decode_issued = msgspec.json.Decoder(_Issued).decode


class TokenExchanger:
    """One RFC 8693 exchange per call: this client asks for a token about ``subject`` for
    ``audience``.

    >>> async def post(body: bytes, headers: Sequence[tuple[str, str]]) -> tuple[int, bytes]:
    ...     return 200, b'{"access_token": "t-u1", "expires_in": 60}'  # the token service
    >>> exchanger = TokenExchanger("bff-mobile", "s3cret", post)
    >>> asyncio.run(exchanger.exchange("u1", "users"))
    IssuedToken(token='t-u1', expires_in=60.0)
    """

    def __init__(self, client_id: str, client_secret: str, post: Poster) -> None:
        self.client_id = client_id
        pair = f"{quote(client_id, safe='')}:{quote(client_secret, safe='')}"
        self._headers = (
            ("authorization", "Basic " + base64.b64encode(pair.encode()).decode()),
            ("content-type", "application/x-www-form-urlencoded"),
        )
        self._post = post

    async def exchange(self, subject: str, audience: str, scope: str = "") -> IssuedToken:
        form = {
            "grant_type": GRANT_TYPE,
            "subject_token": subject,
            "subject_token_type": SUBJECT_TOKEN_TYPE,
            "audience": audience,
        }
        if scope:
            form["scope"] = scope
        status, body = await self._post(urlencode(form).encode(), self._headers)
        if status != 200:
            # 401: our own client credentials are wrong; 403: beyond our allowance. Either
            # is a deployment error: loud in the log, a failed upstream call for the caller.
            log.error("token exchange for %s refused with %s", audience, status)
            raise TokenExchangeError(audience, f"token service answered {status}")
        try:
            issued = _decode_issued(body)
        except msgspec.DecodeError as exc:
            raise TokenExchangeError(audience, "token service answered garbage") from exc
        return IssuedToken(issued.access_token, issued.expires_in)


@dataclass(slots=True)
class _Entry:
    token: str
    refresh_at: float
    expires_at: float
    #: The header an inward call carries: built once per token, not on every call.
    headers: tuple[tuple[str, str]] = field(init=False)

    def __post_init__(self) -> None:
        self.headers = (("authorization", f"Bearer {self.token}"),)


#: A token is never sent inward with less than this left of its life: the service must still
#: find it valid when the request arrives.
MIN_VALIDITY_S = 2.0
#: After a failed background renewal, the next is tried no sooner than this.
RENEW_RETRY_S = 1.0


class TokenCache:
    """Internal tokens by (subject, audience). From ``refresh_before_s`` before a token expires
    it is renewed in the background while callers keep using it (they wait only when there is
    no token, or too little of its life is left: :data:`MIN_VALIDITY_S`). Concurrent misses for
    one key share one exchange; if a refresh fails while the old token is still valid, the old
    token is used.

    >>> exchanges = []
    >>> async def post(body: bytes, headers: Sequence[tuple[str, str]]) -> tuple[int, bytes]:
    ...     exchanges.append(body)
    ...     return 200, b'{"access_token": "t-u1", "expires_in": 60}'
    >>> cache = TokenCache(TokenExchanger("bff-mobile", "s3cret", post), refresh_before_s=10)
    >>> async def twice() -> tuple[str, str]:
    ...     return await cache.token("u1", "users"), await cache.token("u1", "users")
    >>> asyncio.run(twice()), len(exchanges)  # the second comes from the cache
    (('t-u1', 't-u1'), 1)
    """

    def __init__(
        self,
        exchanger: TokenExchanger,
        *,
        refresh_before_s: float = 10.0,
        max_entries: int = 100_000,
        clock: Clock = time.monotonic,
        on_exchange: Callable[[str], None] | None = None,
    ) -> None:
        self._exchanger = exchanger
        self._refresh_before = refresh_before_s
        self._max = max_entries
        self._clock = clock
        self._entries: dict[tuple[str, str], _Entry] = {}
        self._inflight: dict[tuple[str, str], asyncio.Future[_Entry]] = {}
        self._retry_at: dict[tuple[str, str], float] = {}
        self._on_exchange = on_exchange or (lambda outcome: None)

    def cached(self, subject: str, audience: str) -> str | None:
        """The token when a usable one is cached (no exchange to wait for), else None. One due
        for renewal is renewed in the background and still returned."""
        entry = self.cached_entry(subject, audience)
        return None if entry is None else entry.token

    def cached_entry(self, subject: str, audience: str) -> _Entry | None:
        """As :meth:`cached`, the whole entry (its token and the header carrying it)."""
        key = (subject, audience)
        entry = self._entries.get(key)
        if entry is None:
            return None
        now = self._clock()
        if entry.refresh_at > now:
            return entry
        if entry.expires_at - MIN_VALIDITY_S > now:
            # Renew ahead: steady traffic never waits for the token service. After a failed
            # renewal, the next waits a second: a down token service is not asked per request.
            if self._retry_at.get(key, 0.0) <= now:
                self._start(key)
            return entry
        return None

    async def token(self, subject: str, audience: str) -> str:
        key = (subject, audience)
        found = self.cached(subject, audience)
        if found is not None:
            return found
        entry = self._entries.get(key)
        future = self._start(key)
        try:
            # Shielded: a caller that gives up must not cancel the exchange others await.
            return (await asyncio.shield(future)).token
        except TokenExchangeError:
            raise
        except UpstreamError:
            if entry is not None and entry.expires_at > self._clock():
                return entry.token  # the token service is down; the old token still holds
            raise

    def _start(self, key: tuple[str, str]) -> asyncio.Future[_Entry]:
        """The exchange for ``key`` in flight, started if there is none (one at a time)."""
        future = self._inflight.get(key)
        if future is None:
            future = asyncio.ensure_future(self._refresh(key))
            self._inflight[key] = future
            future.add_done_callback(lambda f: self._settled(key, f))
        return future

    async def _refresh(self, key: tuple[str, str]) -> _Entry:
        subject, audience = key
        try:
            issued = await self._exchanger.exchange(subject, audience)
        except UpstreamError:
            self._on_exchange("failed")
            self._retry_at[key] = self._clock() + RENEW_RETRY_S
            raise
        self._on_exchange("ok")
        self._retry_at.pop(key, None)
        now = self._clock()
        lead = min(self._refresh_before, issued.expires_in / 2)
        entry = _Entry(issued.token, now + issued.expires_in - lead, now + issued.expires_in)
        self._entries.pop(key, None)  # re-insert: the dict's order is the eviction order
        self._entries[key] = entry
        if len(self._entries) > self._max:
            del self._entries[next(iter(self._entries))]
        return entry

    def _settled(self, key: tuple[str, str], future: asyncio.Future[_Entry]) -> None:
        self._inflight.pop(key, None)
        if not future.cancelled():
            future.exception()  # retrieved here, so a failure nobody awaited is not logged


class TokenExchangeCredentials:
    """The upstream client's :class:`~tailor.upstream.inward.InwardCredentials`: every
    inward call carries ``Authorization: Bearer <internal token>`` for that upstream, about
    the caller (or, with no caller, about the BFF itself). Calls to the token service carry
    nothing: the exchange authenticates with the BFF's own client credentials.

    >>> async def post(body: bytes, headers: Sequence[tuple[str, str]]) -> tuple[int, bytes]:
    ...     return 200, b'{"access_token": "t-u1", "expires_in": 60}'
    >>> cache = TokenCache(TokenExchanger("bff-mobile", "s3cret", post))
    >>> creds = TokenExchangeCredentials(cache, own_subject="bff-mobile")
    >>> asyncio.run(creds.headers("users", Principal("u1")))
    (('authorization', 'Bearer t-u1'),)
    """

    def __init__(self, cache: TokenCache, *, own_subject: str, tokens_upstream: str = "tokens"):
        self._cache = cache
        self._own = own_subject
        self._tokens_upstream = tokens_upstream

    def _subject(self, principal: Principal | None) -> str:
        """Who the internal token is about. A user is their id; any other caller is prefixed
        with its kind (``app:acme-player``, ``partner:p-acme``), so an app whose client id
        happens to equal a user id can never act as that user in a service."""
        if principal is None:
            return self._own
        if principal.kind == "user":
            return principal.subject
        return f"{principal.kind}:{principal.subject}"  # "partner:" is PARTNER_PREFIX

    def cached_headers(
        self, upstream: str, principal: Principal | None
    ) -> Sequence[tuple[str, str]] | None:
        if upstream == self._tokens_upstream:
            return ()
        # On every inward call: a user, the usual caller, is their own subject (_subject
        # says why the others are not), and the header comes ready-made with the token.
        if principal is not None and principal.kind == "user":
            subject = principal.subject
        else:
            subject = self._subject(principal)
        entry = self._cache.cached_entry(subject, upstream)
        return None if entry is None else entry.headers

    async def headers(
        self, upstream: str, principal: Principal | None
    ) -> Sequence[tuple[str, str]]:
        if upstream == self._tokens_upstream:
            return ()
        subject = self._subject(principal)
        token = await self._cache.token(subject, upstream)
        return (("authorization", f"Bearer {token}"),)

    async def aclose(self) -> None:
        return None


def transport_poster(
    registry: ServiceRegistry, transport: Transport, upstream: str, path: str, timeout_s: float
) -> Poster:
    """A :data:`Poster` over the BFF's own transport (one pool for everything inward)."""
    from tailor.upstream.transport import UpstreamRequest

    url = registry.url(upstream, path)

    async def post(body: bytes, headers: Sequence[tuple[str, str]]) -> tuple[int, bytes]:
        request = UpstreamRequest(upstream, "POST", url, list(headers), timeout_s, body)
        response = await transport.send(request)
        return response.status, response.body

    return post


def build_inward_credentials(
    settings: TokenExchange,
    registry: ServiceRegistry,
    transport: Transport,
    metrics: Metrics | None = None,
) -> TokenExchangeCredentials:
    """The provider a BFF's upstream client uses when ``token_exchange`` is configured."""
    from prometheus_client import Counter

    registry.require({settings.tokens_upstream})
    on_exchange: Callable[[str], None] | None = None
    if metrics is not None:
        counter = Counter(
            "tailor_token_exchanges",
            "Internal-token exchanges with the token service, by outcome (cache misses).",
            ["outcome"],
            registry=metrics.registry,
        )

        def on_exchange(outcome: str) -> None:
            counter.labels(outcome).inc()

    post = transport_poster(
        registry, transport, settings.tokens_upstream, settings.token_path, settings.timeout_s
    )
    exchanger = TokenExchanger(settings.client_id, settings.secret(), post)
    cache = TokenCache(
        exchanger,
        refresh_before_s=settings.refresh_before_s,
        max_entries=settings.cache_size,
        on_exchange=on_exchange,
    )
    return TokenExchangeCredentials(
        cache, own_subject=settings.client_id, tokens_upstream=settings.tokens_upstream
    )


# -- the service side ----------------------------------------------------------------------


#: The subject prefix of a token about a partner (``partner:p-acme``); see
#: :meth:`TokenExchangeCredentials._subject`.
PARTNER_PREFIX = "partner:"
#: The claim in which the token service states the label a partner subject owns.
LABEL_CLAIM = "label"


@dataclass(frozen=True, slots=True)
class InternalClaims:
    """A verified internal token: ``subject`` is who the call is about (a user, an app, a
    partner, or a BFF itself); ``actor`` the client that obtained the token. ``label`` is
    the label a partner subject owns, as the token service recorded it (None otherwise):
    a service confines a partner's reads to it without trusting a query parameter.

    >>> claims = InternalClaims("partner:p-acme", "bff-partner", "rights",
    ...                         frozenset({"read"}), 0.0, "j1", label="Acme Records")
    >>> claims.partner_id, claims.label
    ('p-acme', 'Acme Records')
    """

    subject: str
    actor: str
    audience: str
    scopes: frozenset[str]
    expires_at: float
    token_id: str
    label: str | None = None

    @property
    def partner_id(self) -> str | None:
        """The partner this token is about, or None for any other subject."""
        if self.subject.startswith(PARTNER_PREFIX):
            return self.subject[len(PARTNER_PREFIX) :]
        return None


class InternalTokenVerifier:
    """Verify internal tokens for one service (``audience``).

    The algorithm is pinned (the token's ``alg`` must equal it), keys come only from the
    token service's JWKS (``jku``/``x5u``/inline keys are refused), an unknown ``kid``
    refreshes the JWKS at most once per ``refresh_min_interval_s`` (and not for
    ``retry_after_failure_s`` after a failed fetch), and a token living longer than
    ``max_lifetime_s`` is refused even if signed. A ``label`` claim, when present, must be
    a non-empty string. Verified tokens are cached until they expire.

    >>> import json
    >>> from tailor.testing import TokenIssuer
    >>> tokens = TokenIssuer("waveform-tokens", "users")  # an RSA key made here
    >>> async def fetch() -> bytes:
    ...     return json.dumps(tokens.jwks).encode()
    >>> verifier = InternalTokenVerifier("users", "waveform-tokens", fetch, algorithm="RS256")
    >>> token = tokens.token("u1", ttl_s=30, act={"sub": "bff-mobile"})
    >>> claims = asyncio.run(verifier.verify(token))
    >>> claims.subject, claims.actor
    ('u1', 'bff-mobile')
    """

    def __init__(
        self,
        audience: str,
        issuer: str,
        fetch_jwks: JWKSFetcher,
        *,
        algorithm: str = "ES256",
        leeway_s: float = 5.0,
        max_lifetime_s: float = 60.0,
        refresh_min_interval_s: float = 5.0,
        retry_after_failure_s: float = RETRY_AFTER_FAILURE_S,
        cache_size: int = 50_000,
        clock: Clock = time.time,
    ) -> None:
        self.audience = audience
        self.issuer = issuer
        self._algorithm = algorithm
        self._leeway = leeway_s
        self._max_lifetime = max_lifetime_s
        self._cache_size = cache_size
        self._clock = clock
        self._keyset = KeySet(
            fetch_jwks,
            algorithm=algorithm,
            refresh_interval_s=refresh_min_interval_s,
            invalid=InvalidInternalToken,
            unavailable=InternalKeysUnavailable,
            retry_after_failure_s=retry_after_failure_s,
        )
        self._cache: dict[str, InternalClaims] = {}

    async def verify(self, token: str) -> InternalClaims:
        cached = self._cache.get(token)
        if cached is not None:
            if cached.expires_at + self._leeway > self._clock():
                return cached
            del self._cache[token]
        claims = await self._verify(token)
        if len(self._cache) >= self._cache_size:
            self._cache.pop(next(iter(self._cache)))
        self._cache[token] = claims
        return claims

    async def _verify(self, token: str) -> InternalClaims:
        claims = await verify_jws(
            token,
            algorithm=self._algorithm,
            key_for=self._keyset.key,
            audience=self.audience,
            issuer=self.issuer,
            leeway_s=self._leeway,
            max_lifetime_s=self._max_lifetime,
            invalid=InvalidInternalToken,
        )
        subject, act, scope = claims["sub"], claims.get("act"), claims.get("scope", "")
        if not isinstance(subject, str) or not subject:
            raise InvalidInternalToken("bad subject")
        if not isinstance(act, dict) or not isinstance(act.get("sub"), str):
            raise InvalidInternalToken("no actor")
        if not isinstance(scope, str):
            raise InvalidInternalToken("bad scope")
        label = claims.get(LABEL_CLAIM)
        if label is not None and (not isinstance(label, str) or not label):
            raise InvalidInternalToken("bad label")
        return InternalClaims(
            subject=subject,
            actor=act["sub"],
            audience=self.audience,
            scopes=frozenset(scope.split()),
            expires_at=float(claims["exp"]),
            token_id=str(claims.get("jti", "")),
            label=label,
        )


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer`` header value, else None."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    return token
