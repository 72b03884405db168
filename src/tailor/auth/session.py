"""Server-side sessions behind a cookie, with CSRF protection for unsafe methods.

The cookie holds only a random id (256 bits); everything else (the user, the CSRF token, the
expiry) lives in the store, memory (one process) or Redis (every instance sees the same
sessions, so a logout on one instance holds on all of them at once). The store key is a
SHA-256 of the id, so a dump of the store does not hand out live cookies.

- Login always creates a new id and discards any id the browser presented (no fixation).
- The cookie is ``HttpOnly; SameSite=Lax; Path=/`` and ``Secure`` unless configured off;
  the default name carries the ``__Host-`` prefix (no Domain, Secure, Path=/ enforced by
  browsers).
- An unsafe method (anything but GET, HEAD, OPTIONS) needs both an ``Origin`` (or, failing
  that, a ``Referer``) among ``allowed_origins`` and the session's CSRF token in the
  configured header (a synchronizer token bound to the session). Either missing is a 403.
- A well-formed id the store does not know (expired, logged out, or lost with the store) is
  :class:`StaleSession`: a 401 that clears the cookie, and no credential guess (an id is 256
  random bits: nobody finds a live one by trying, so throttling these protects nothing and
  would lock out every browser behind an address after the store forgot its sessions). A
  malformed id is an ordinary invalid credential, counted as a guess.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from typing import Protocol
from urllib.parse import urlsplit

import msgspec

from tailor.auth.authenticator import CredentialsUnavailable, InvalidCredential
from tailor.auth.principal import Principal
from tailor.config import SessionAuth
from tailor.errors import TailorError
from tailor.http import Request

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_SESSION_ID = re.compile(r"[A-Za-z0-9_-]{43}")
#: The memory store's bound when the config does not set ``auth.session.max_sessions``.
DEFAULT_MAX_SESSIONS = SessionAuth().max_sessions


class CrossSiteRequest(TailorError):
    """An unsafe request on a session without a same-origin ``Origin`` or the CSRF token:
    refused with 403 (the session itself may be fine)."""


class StaleSession(InvalidCredential):
    """A well-formed session id the store does not know: answered 401 with the cookie
    cleared, and not counted as a failed authentication against the client's address."""


class Session(msgspec.Struct):
    user_id: str
    csrf_token: str
    expires_at: float
    client_id: str = ""


class SessionStore(Protocol):
    async def put(self, key: str, session: Session, ttl_s: float) -> None: ...

    async def get(self, key: str) -> Session | None: ...

    async def delete(self, key: str) -> None: ...


class MemorySessionStore:
    """Sessions in this process only (a single instance, or tests), at most ``max_sessions``.

    Expired sessions are swept on ``put`` (not only when read: a session nobody presents
    again would otherwise stay forever); when the store is still full, the oldest session
    is evicted (its user logs in again) rather than letting memory grow without bound.

    >>> store = MemorySessionStore(max_sessions=10_000)
    >>> len(store)
    0
    """

    #: A full sweep (every entry) this often; between sweeps only the oldest are checked.
    SWEEP_EVERY = 1024

    def __init__(self, max_sessions: int = DEFAULT_MAX_SESSIONS) -> None:
        if max_sessions < 1:
            raise ValueError("max_sessions must be at least 1")
        self.max_sessions = max_sessions
        # Insertion order is creation order: with one TTL per manager, oldest = first to expire.
        self._sessions: dict[str, Session] = {}
        self._puts = 0

    def __len__(self) -> int:
        return len(self._sessions)

    async def put(self, key: str, session: Session, ttl_s: float) -> None:
        sessions = self._sessions
        sessions.pop(key, None)  # a re-put moves to the end: it is the newest now
        sessions[key] = session
        self._puts += 1
        now = time.time()
        if self._puts % self.SWEEP_EVERY == 0:
            for stale in [k for k, s in sessions.items() if s.expires_at <= now]:
                del sessions[stale]
        else:
            # Cheap, amortized O(1): expired sessions at the old end go first.
            while sessions:
                oldest = next(iter(sessions))
                if sessions[oldest].expires_at > now:
                    break
                del sessions[oldest]
        while len(sessions) > self.max_sessions:
            del sessions[next(iter(sessions))]

    async def get(self, key: str) -> Session | None:
        session = self._sessions.get(key)
        if session is not None and session.expires_at <= time.time():
            del self._sessions[key]
            return None
        return session

    async def delete(self, key: str) -> None:
        self._sessions.pop(key, None)


_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(Session).decode


class RedisSessionStore:
    """Sessions in Redis with a TTL: shared by every BFF instance using the same Redis."""

    def __init__(self, redis: object, prefix: str = "tailor:session:") -> None:
        from redis.asyncio import Redis

        assert isinstance(redis, Redis)
        self._redis = redis
        self._prefix = prefix

    async def put(self, key: str, session: Session, ttl_s: float) -> None:
        try:
            await self._redis.set(self._prefix + key, _encode(session), px=int(ttl_s * 1000))
        except Exception as exc:  # redis-py raises its own tree and OSError subclasses
            raise CredentialsUnavailable("the session store is unreachable") from exc

    async def get(self, key: str) -> Session | None:
        try:
            raw = await self._redis.get(self._prefix + key)
        except Exception as exc:
            raise CredentialsUnavailable("the session store is unreachable") from exc
        if raw is None:
            return None
        try:
            return _decode(raw)
        except msgspec.DecodeError:
            return None

    async def delete(self, key: str) -> None:
        try:
            await self._redis.delete(self._prefix + key)
        except Exception as exc:
            raise CredentialsUnavailable("the session store is unreachable") from exc


def _store_key(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def read_cookie(header: str, name: str) -> str | None:
    """The value of cookie ``name`` in a ``Cookie`` header (first one wins), or None.
    Tolerant of junk around it: only the named pair matters."""
    for pair in header.split(";"):
        key, sep, value = pair.strip().partition("=")
        if sep and key == name:
            return value.strip().strip('"')
    return None


class SessionManager:
    """Creates, reads and ends sessions; builds the cookie.

    >>> import asyncio
    >>> manager = SessionManager(SessionAuth(), MemorySessionStore())
    >>> session_id, session = asyncio.run(manager.create("u1"))
    >>> manager.cookie(session_id)
    '__Host-session=...; Path=/; HttpOnly; SameSite=Lax; Secure; Max-Age=28800'
    >>> asyncio.run(manager.load(session_id)).user_id
    'u1'
    """

    def __init__(self, settings: SessionAuth, store: SessionStore) -> None:
        self.settings = settings
        self.store = store
        self._origins = frozenset(o.rstrip("/").lower() for o in settings.allowed_origins)

    def presented_id(self, request: Request) -> str | None:
        header = request.headers.get("cookie")
        return read_cookie(header, self.settings.cookie_name) if header else None

    async def create(self, user_id: str) -> tuple[str, Session]:
        session_id = secrets.token_urlsafe(32)
        session = Session(
            user_id=user_id,
            csrf_token=secrets.token_urlsafe(32),
            expires_at=time.time() + self.settings.ttl_s,
            client_id=self.settings.client_id,
        )
        await self.store.put(_store_key(session_id), session, self.settings.ttl_s)
        return session_id, session

    @staticmethod
    def well_formed(session_id: str) -> bool:
        """``session_id`` has the shape of an id :meth:`create` hands out."""
        return _SESSION_ID.fullmatch(session_id) is not None

    async def load(self, session_id: str) -> Session | None:
        if not self.well_formed(session_id):
            return None
        return await self.store.get(_store_key(session_id))

    async def end(self, session_id: str) -> None:
        if self.well_formed(session_id):
            await self.store.delete(_store_key(session_id))

    async def discard_presented(self, request: Request) -> None:
        """Forget whatever session id the request carried (called at login: fixation)."""
        presented = self.presented_id(request)
        if presented:
            await self.end(presented)

    def cookie(self, session_id: str) -> str:
        s = self.settings
        secure = "; Secure" if s.secure else ""
        return (
            f"{s.cookie_name}={session_id}; Path=/; HttpOnly; SameSite=Lax{secure}; "
            f"Max-Age={int(s.ttl_s)}"
        )

    def expired_cookie(self) -> str:
        secure = "; Secure" if self.settings.secure else ""
        return f"{self.settings.cookie_name}=; Path=/; HttpOnly; SameSite=Lax{secure}; Max-Age=0"

    def same_origin(self, request: Request) -> bool:
        """The request's ``Origin`` (or the origin of its ``Referer``) is an allowed one."""
        origin = request.headers.get("origin")
        if origin is None or origin == "null":
            referer = request.headers.get("referer")
            if not referer:
                return False
            parts = urlsplit(referer)
            origin = f"{parts.scheme}://{parts.netloc}"
        return origin.rstrip("/").lower() in self._origins


class SessionAuthenticator:
    """The session cookie as a credential; CSRF-checked on unsafe methods."""

    def __init__(self, manager: SessionManager) -> None:
        self.manager = manager
        self.challenge = ""  # no HTTP auth scheme for cookies: no WWW-Authenticate entry
        self._csrf_header = manager.settings.csrf_header.lower()

    async def authenticate(self, request: Request) -> Principal | None:
        manager = self.manager
        session_id = manager.presented_id(request)
        if session_id is None:
            return None
        if not manager.well_formed(session_id):
            raise InvalidCredential("malformed session id")
        session = await manager.load(session_id)
        if session is None:
            raise StaleSession("unknown or expired session")
        if request.method not in SAFE_METHODS:
            if not manager.same_origin(request):
                raise CrossSiteRequest("unsafe method without a same-origin Origin")
            token = request.headers.get(self._csrf_header, "")
            if not hmac.compare_digest(token.encode(), session.csrf_token.encode()):
                raise CrossSiteRequest("unsafe method without the session's CSRF token")
        return Principal(
            subject=session.user_id,
            scopes=frozenset({"user"}),
            client_id=session.client_id,
            expires_at=session.expires_at,
            kind="user",
            credential="session",
            session_id=session_id,
        )
