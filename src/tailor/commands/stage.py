"""``Idempotency-Key`` on commands (draft-ietf-httpapi-idempotency-key-header).

A client that may retry a command (a phone on a flaky network) sends a unique key with it.
The first request with a key runs the command and its answer is kept (``ttl_s``); a retry
with the same key and the same request answers that first result without running it again
(``Idempotent-Replayed: true``). The same key with another request (method, path, query or
body) is 422; while the first is still running, a duplicate is 409 with ``Retry-After``.
Keys are scoped per caller (the principal, or the client address for an anonymous route),
so one caller's key can neither replay nor block another's. A command that failed in a way
a retry may fix (a 5xx, an exception) releases its key.

The stage sits below ``ratelimit`` (a retry is a request the caller is charged for) and
above ``cache`` and ``compress``; the answer kept is the identity coding (a retry may accept
another one), so answers to keyed commands are not compressed.
"""

from __future__ import annotations

import hashlib
import logging
from typing import TYPE_CHECKING

from tailor.chain import Chain, Outcome, awaitable
from tailor.commands.store import (
    IdempotencyStore,
    MemoryIdempotencyStore,
    Record,
    RedisIdempotencyStore,
)
from tailor.config import Idempotency
from tailor.http import Request, Response
from tailor.problem import problem_response
from tailor.ratelimit.gcra import BackendUnavailable

if TYPE_CHECKING:
    from tailor.pipeline import BuildContext

log = logging.getLogger("tailor.commands")

HEADER = "idempotency-key"
REPLAYED = ("idempotent-replayed", "true")
MAX_KEY_LENGTH = 255


def parse_key(raw: str) -> str | None:
    """The key of an ``Idempotency-Key`` field value (an sf-string; a bare token is taken
    too, as clients send one), or None when it is not a usable key.

    >>> parse_key('"8e03978e-40d5-43e8-bc93-6894a57f9324"')
    '8e03978e-40d5-43e8-bc93-6894a57f9324'
    >>> parse_key('"') is None
    True
    """
    value = raw.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    if not value or len(value) > MAX_KEY_LENGTH or '"' in value or "\\" in value:
        return None
    if not value.isascii() or not value.isprintable():
        return None
    return value


def caller_of(request: Request) -> str:
    """Whose keys these are: the verified principal, else the client's address."""
    principal = request.principal
    if principal is None:
        return "ip:" + request.client
    return f"{principal.kind}:{principal.client_id}:{principal.subject}"


def fingerprint(request: Request) -> str:
    """What makes a retry 'the same request': method, path, query and body."""
    digest = hashlib.sha256()
    for part in (request.method, request.path, request.query_string):
        digest.update(part.encode())
        digest.update(b"\x00")
    digest.update(request.body)
    return digest.hexdigest()


class IdempotencyStage:
    """Answers a retried command from its first result.

    >>> import asyncio
    >>> from tailor import BFF, build_config, json_response
    >>> from tailor.testing import call
    >>> cfg = {"auth": {"anonymous": True}, "commands": {"idempotency": {}}}
    >>> bff = BFF(build_config({"name": "edge", **cfg}))
    >>> runs = []
    >>> @bff.post("/likes")
    ... async def like(request):
    ...     runs.append(1)
    ...     return json_response({"n": len(runs)}, status=201)
    >>> async def twice():
    ...     key = {"idempotency-key": '"k1"'}
    ...     return [(await call(bff, "POST", "/likes", headers=key)).body for _ in range(2)]
    >>> asyncio.run(twice()), len(runs)
    ([b'{"n":1}', b'{"n":1}'], 1)
    """

    name = "idempotency"

    def __init__(self, settings: Idempotency, store: IdempotencyStore) -> None:
        self._settings = settings
        self._store = store

    @classmethod
    def build(cls, ctx: BuildContext) -> IdempotencyStage | None:
        settings = ctx.config.commands.idempotency
        if settings is None or not settings.enabled:
            return None
        store: IdempotencyStore
        if settings.backend == "redis":
            store = RedisIdempotencyStore(
                ctx.redis(),
                prefix=settings.key_prefix + ":",
                timeout_s=settings.backend_timeout_s,
            )
        else:
            store = MemoryIdempotencyStore(settings.max_keys)
        return cls(settings, store)

    def wrap(self, next_handler: Chain) -> Chain:
        methods = frozenset(self._settings.methods)
        required = self._settings.required

        def idempotency(request: Request) -> Outcome:
            if request.method not in methods:
                return next_handler(request)
            raw = request.headers.get(HEADER)
            if raw is None:
                if required:
                    return problem_response(
                        400, "this command needs an Idempotency-Key", parameter="Idempotency-Key",
                        request_id=request.request_id,
                    )  # fmt: skip
                return next_handler(request)
            key = parse_key(raw)
            if key is None:
                return problem_response(
                    400,
                    f"Idempotency-Key must be a string of 1 to {MAX_KEY_LENGTH} printable "
                    "ASCII characters",
                    parameter="Idempotency-Key",
                    request_id=request.request_id,
                )
            request.coding = "identity"  # the answer kept must suit any retry
            return keyed(request, caller_of(request) + "\x00" + key)

        async def keyed(request: Request, key: str) -> Response:
            store, settings = self._store, self._settings
            mine = fingerprint(request)
            try:
                found = await store.claim(key, mine, settings.in_flight_s)
            except BackendUnavailable as exc:
                return unavailable(request, exc)
            if found is not None:
                return answered(request, found, mine)
            try:
                response = await awaitable(next_handler(request))
            except BaseException:
                await forget(store, key)
                raise
            if response.status >= 500:
                await forget(store, key)
                return response
            record = Record(mine, response.status, list(response.headers), response.body)
            try:
                await store.complete(key, record, settings.ttl_s)
            except BackendUnavailable:
                # The command ran: its answer stands. A retry within in_flight_s is a 409,
                # after it the command runs again (a state the domain's own idempotence
                # absorbs: a like twice is one like).
                log.warning("idempotency record not kept for %s", request.path, exc_info=True)
            return response

        return idempotency


def answered(request: Request, found: Record, mine: str) -> Response:
    """The answer to a key already claimed: 422, 409, or the first result again."""
    if found.fingerprint != mine:
        return problem_response(
            422,
            "this Idempotency-Key was used for another request",
            parameter="Idempotency-Key",
            request_id=request.request_id,
        )
    if found.pending:
        return problem_response(
            409,
            "a request with this Idempotency-Key is still in progress",
            headers=(("retry-after", "1"),),
            request_id=request.request_id,
        )
    return Response(found.status, found.body, [*found.headers, REPLAYED])


def unavailable(request: Request, exc: BackendUnavailable) -> Response:
    log.warning("idempotency store unavailable: %s", exc)
    return problem_response(
        503,
        "cannot check the Idempotency-Key right now, try again shortly",
        headers=(("retry-after", "1"),),
        request_id=request.request_id,
    )


async def forget(store: IdempotencyStore, key: str) -> None:
    try:
        await store.release(key)
    except BackendUnavailable:
        log.warning("idempotency key not released (it expires on its own)", exc_info=True)
