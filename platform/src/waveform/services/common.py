"""What every waveform service shares: app factory, database, problems, deadlines, CLI.

A service module defines its schema, a loader that fills the schema from the shared
:class:`~waveform.seed.World`, and a ``build_app`` function; :func:`run_service` does the
rest (arguments, seeding or reusing the database file, uvicorn).

Deadlines: a caller sends ``X-Deadline-Ms`` (its remaining budget in milliseconds).
:class:`DeadlineMiddleware` runs the handler under ``asyncio.timeout`` and answers 504
problem+json when the budget is spent, so no work continues that nobody will read.

Internal tokens: :class:`InternalAuthMiddleware` refuses (401 problem+json) every request
but ``/healthz`` and ``/openapi.json`` that lacks a valid internal token for this service
(``Authorization: Bearer``, issued by the token service, checked with
:class:`tailor.auth.internal.InternalTokenVerifier` against the JWKS at ``--tokens``). A
handler reads the verified claims with :func:`internal_claims` / :func:`require_scope`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import logging
import os
import sqlite3
import sys
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tailor.auth.internal import (
    InternalClaims,
    InternalKeysUnavailable,
    InternalTokenVerifier,
    InvalidInternalToken,
    JWKSFetcher,
    bearer_token,
)
from waveform.protos import SERVICES as PROTOS
from waveform.seed import DEFAULT_SCALE, DEFAULT_SEED, SEED_VERSION, World
from waveform.services.tracing import setup_tracing

log = logging.getLogger("waveform.services")

PROBLEM_JSON = "application/problem+json"
TOKENS_ISSUER = "waveform-tokens"
TOKENS_ALGORITHM = "ES256"
DEFAULT_TOKENS_URL = "http://127.0.0.1:9011"
#: Paths any caller may read: liveness and the published contract.
OPEN_PATHS = frozenset({"/healthz", "/openapi.json"})
INTERNAL_STATE_KEY = "internal_claims"
DEADLINE_HEADER = "x-deadline-ms"
FAULT_DELAY_ENV = "WAVEFORM_FAULT_DELAY_MS"
MAX_BATCH = 100

_encoder = msgspec.json.Encoder()

#: loop.time() at which the current request's budget runs out (None: no deadline).
_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "waveform_deadline", default=None
)


# -- responses and problems ------------------------------------------------------------


class Problem(Exception):
    """An expected error answered as RFC 9457 problem+json.

    >>> Problem(404, "Not Found", "no track t9").status
    404
    """

    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        type_: str = "about:blank",
        *,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail
        self.type = type_
        self.extra = extra or {}  # extension members, e.g. OAuth2's ``error``
        self.headers = headers or {}


def json_response(body: Any, status: int = 200) -> Response:
    """Encode with msgspec (fast, and it handles every type the services return)."""
    return Response(_encoder.encode(body), status_code=status, media_type="application/json")


def problem_response(
    status: int,
    title: str,
    detail: str,
    type_: str = "about:blank",
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    body = {"type": type_, "title": title, "status": status, "detail": detail, **(extra or {})}
    return Response(
        _encoder.encode(body), status_code=status, media_type=PROBLEM_JSON, headers=headers
    )


def not_found(kind: str, ident: str) -> Problem:
    return Problem(404, "Not Found", f"{kind} {ident!r} does not exist")


def bad_request(detail: str) -> Problem:
    return Problem(400, "Bad Request", detail)


def parse_ids(raw: str, limit: int = MAX_BATCH) -> list[str]:
    """Split ``ids=a,b,c``; empty items are dropped, duplicates kept out, order kept."""
    ids = list(dict.fromkeys(part.strip() for part in raw.split(",") if part.strip()))
    if not ids:
        raise bad_request("ids must name at least one id")
    if len(ids) > limit:
        raise bad_request(f"at most {limit} ids per request, got {len(ids)}")
    return ids


# -- deadlines ---------------------------------------------------------------------------


def remaining_ms() -> int | None:
    """Milliseconds left for the current request, or None when the caller set no budget."""
    deadline = _deadline.get()
    if deadline is None:
        return None
    return max(0, int((deadline - asyncio.get_running_loop().time()) * 1000))


class DeadlineMiddleware:
    """Honour ``X-Deadline-Ms``; also inject the test-only fault delay.

    Pure ASGI (no BaseHTTPMiddleware) so that cancelling on timeout cancels the handler
    itself. ``/healthz`` is exempt from both the delay and the deadline.
    """

    def __init__(self, app: ASGIApp, fault_delay_ms: int = 0) -> None:
        self.app = app
        self.fault_delay = fault_delay_ms / 1000

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] == "/healthz":
            await self.app(scope, receive, send)
            return
        budget_ms: int | None = None
        for name, value in scope["headers"]:
            if name == b"x-deadline-ms":
                try:
                    budget_ms = int(value)
                except ValueError:
                    await problem_response(400, "Bad Request", "X-Deadline-Ms must be an integer")(
                        scope, receive, send
                    )
                    return
        if budget_ms is not None and budget_ms <= 0:
            await _expired(scope, receive, send, "the caller's deadline had already passed")
            return
        loop = asyncio.get_running_loop()
        deadline = None if budget_ms is None else loop.time() + budget_ms / 1000
        token = _deadline.set(deadline)
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            async with asyncio.timeout_at(deadline) as scope_timeout:
                if self.fault_delay:
                    await asyncio.sleep(self.fault_delay)
                await self.app(scope, receive, tracking_send)
        except TimeoutError:
            if not scope_timeout.expired():
                raise
            if not started:
                await _expired(
                    scope, receive, send, f"the request's budget of {budget_ms} ms ran out"
                )
        finally:
            _deadline.reset(token)


async def _expired(scope: Scope, receive: Receive, send: Send, detail: str) -> None:
    await problem_response(504, "Deadline Exceeded", detail)(scope, receive, send)


# -- internal tokens -------------------------------------------------------------------


class InternalAuth:
    """Where a service's internal-token verifier gets its keys; bound by :func:`serve`
    (``--tokens``) or, for the token service, to its own key set (``fetch``)."""

    def __init__(self, service: str, open_paths: frozenset[str] = OPEN_PATHS) -> None:
        self.service = service
        self.open_paths = open_paths
        self.tokens_url = os.environ.get("WAVEFORM_TOKENS_URL", DEFAULT_TOKENS_URL)
        self.fetch: JWKSFetcher | None = None
        self._verifier: InternalTokenVerifier | None = None

    @property
    def verifier(self) -> InternalTokenVerifier:
        if self._verifier is None:
            fetch = self.fetch or http_fetcher(f"{self.tokens_url}/.well-known/jwks.json")
            self._verifier = InternalTokenVerifier(
                self.service, TOKENS_ISSUER, fetch, algorithm=TOKENS_ALGORITHM
            )
        return self._verifier


def http_fetcher(url: str, timeout_s: float = 2.0) -> JWKSFetcher:
    """GET ``url`` (rare: at start and on an unknown kid), on a fresh connection."""

    async def fetch() -> bytes:
        timeout = aiohttp.ClientTimeout(total=timeout_s)
        async with aiohttp.ClientSession(timeout=timeout) as s, s.get(url) as resp:
            if resp.status != 200:
                raise OSError(f"{url} answered {resp.status}")
            return await resp.read()

    async def guarded() -> bytes:
        try:
            return await fetch()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise OSError(f"{url}: {exc}") from exc

    return guarded


class InternalAuthMiddleware:
    """401 problem+json for a request without a valid internal token for this service.

    The same answer for every refusal (none, malformed, expired, another audience, another
    issuer or algorithm): the reason goes to the service log only.
    """

    def __init__(self, app: ASGIApp, auth: InternalAuth) -> None:
        self.app = app
        self.auth = auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.auth.open_paths:
            await self.app(scope, receive, send)
            return
        token = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                token = bearer_token(value.decode("latin-1"))
        if token is None:
            await _unauthorized("an internal token is required")(scope, receive, send)
            return
        try:
            claims = await self.auth.verifier.verify(token)
        except InvalidInternalToken as exc:
            log.info("%s: internal token refused: %s", self.auth.service, exc)
            await _unauthorized("the internal token is not valid")(scope, receive, send)
            return
        except InternalKeysUnavailable:
            log.warning("%s: cannot check internal tokens now", self.auth.service, exc_info=True)
            await problem_response(
                503,
                "Service Unavailable",
                "cannot check internal tokens right now",
                headers={"retry-after": "1"},
            )(scope, receive, send)
            return
        scope.setdefault("state", {})[INTERNAL_STATE_KEY] = claims
        await self.app(scope, receive, send)


def _unauthorized(detail: str) -> Response:
    return problem_response(
        401, "Unauthorized", detail, headers={"www-authenticate": 'Bearer error="invalid_token"'}
    )


def internal_claims(request: Request) -> InternalClaims:
    """The verified internal token of this request (the middleware guarantees one)."""
    claims = request.scope.get("state", {}).get(INTERNAL_STATE_KEY)
    if not isinstance(claims, InternalClaims):
        raise Problem(401, "Unauthorized", "an internal token is required")
    return claims


def require_scope(request: Request, scope: str) -> InternalClaims:
    """403 unless the internal token carries ``scope`` (e.g. ``admin``)."""
    claims = internal_claims(request)
    if scope not in claims.scopes:
        raise Problem(403, "Forbidden", f"this operation needs the {scope!r} scope")
    return claims


# -- app factory -----------------------------------------------------------------------


def create_app(
    name: str,
    description: str = "",
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]] | None = None,
    open_paths: Iterable[str] = (),
) -> FastAPI:
    """A FastAPI app with /healthz, problem+json errors, the deadline middleware and the
    internal-token check (every path but /healthz, /openapi.json and ``open_paths``)."""
    app = FastAPI(
        title=f"waveform-{name}",
        version="1.0.0",
        description=description,
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.internal_auth = InternalAuth(name, OPEN_PATHS | frozenset(open_paths))

    @app.exception_handler(Problem)
    async def _problem(_: Request, exc: Problem) -> Response:
        return problem_response(exc.status, exc.title, exc.detail, exc.type, exc.extra, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> Response:
        parts = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err.get("loc", ()))
            parts.append(f"{where}: {err.get('msg', 'invalid')}")
        return problem_response(400, "Bad Request", "; ".join(parts) or "invalid request")

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> Response:
        title = {404: "Not Found", 405: "Method Not Allowed"}.get(exc.status_code, "Error")
        return problem_response(exc.status_code, title, str(exc.detail))

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> Response:
        log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return problem_response(500, "Internal Server Error", "the service failed; see its log")

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    _publish_schemas(app)
    delay = int(os.environ.get(FAULT_DELAY_ENV, "0") or 0)
    app.add_middleware(DeadlineMiddleware, fault_delay_ms=delay)
    # Added last, so outermost: an unauthenticated request does no work at all.
    app.add_middleware(InternalAuthMiddleware, auth=app.state.internal_auth)
    setup_tracing(app, name)  # outermost of all when on: a refused request is traced too
    return app


def returns(model: type[Any], *errors: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: the 200 body is ``model``; ``errors`` are problem+json, and
    so are the 400 (a bad parameter) and the 504 (the caller's deadline) every route can give.

    >>> sorted(returns(dict, 404))
    [200, 400, 404, 504]
    """
    out: dict[int | str, dict[str, Any]] = {
        200: {
            "description": "OK",
            "content": {"application/json": {"schema": {"$ref": _REF.format(name=model.__name__)}}},
        },
    }
    _MODELS.add(model)
    for status in (*errors, 400, 504):
        out[status] = {
            "description": _STATUS_TEXT.get(status, "Error"),
            "content": {PROBLEM_JSON: {"schema": {"$ref": _REF.format(name="Problem")}}},
        }
    return out


_REF = "#/components/schemas/{name}"
_MODELS: set[type[Any]] = set()
_STATUS_TEXT = {
    400: "Bad parameters",
    401: "Unauthorized",
    404: "Not found",
    502: "An upstream failed",
    504: "Deadline exceeded",
}


def _publish_schemas(app: FastAPI) -> None:
    """Merge the msgspec models' JSON Schemas into the app's OpenAPI components."""
    from waveform.services import models

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            from fastapi.openapi.utils import get_openapi

            doc = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            found: set[type[Any]] = {models.Problem, *_MODELS}
            wanted = sorted(found, key=lambda m: m.__name__)
            _, components = msgspec.json.schema_components(wanted, ref_template=_REF)
            schemas = doc.setdefault("components", {}).setdefault("schemas", {})
            schemas.update(components)
            # Validation errors are answered as 400 problem+json, never FastAPI's 422.
            for methods in doc.get("paths", {}).values():
                for op in methods.values():
                    op.get("responses", {}).pop("422", None)
            for unused in ("HTTPValidationError", "ValidationError"):
                schemas.pop(unused, None)
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


# -- database ------------------------------------------------------------------------


Loader = Callable[[sqlite3.Connection, World], None]


def open_database(
    data_dir: Path, name: str, seed: int, scale: int, schema: str, load: Loader
) -> sqlite3.Connection:
    """Open ``<data_dir>/<name>.sqlite3``, building it first unless it matches seed+scale.

    The database is built in a temporary file and renamed into place, so a crash while
    seeding never leaves a half-filled file that a later start would trust.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / f"{name}.sqlite3"
    want = {"seed": str(seed), "scale": str(scale), "version": str(SEED_VERSION)}
    if path.exists() and _meta(path) == want:
        log.info("%s: reusing %s", name, path)
    else:
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.unlink(missing_ok=True)
        conn = sqlite3.connect(tmp)
        try:
            conn.execute("PRAGMA journal_mode=OFF")
            conn.execute("PRAGMA synchronous=OFF")
            conn.executescript(schema)
            conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            load(conn, World(seed=seed, scale=scale))
            conn.executemany("INSERT INTO meta VALUES (?, ?)", sorted(want.items()))
            conn.commit()
        finally:
            conn.close()
        for suffix in ("-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        os.replace(tmp, path)
        log.info("%s: seeded %s (seed=%s scale=%s)", name, path, seed, scale)
    conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.row_factory = sqlite3.Row
    return conn


def _meta(path: Path) -> dict[str, str] | None:
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            return dict(conn.execute("SELECT key, value FROM meta").fetchall())
        finally:
            conn.close()
    except sqlite3.Error:
        return None


def insert_rows(conn: sqlite3.Connection, table: str, rows: Sequence[dict[str, Any]]) -> None:
    """executemany with named placeholders taken from the first row's keys."""
    if not rows:
        return
    cols = list(rows[0])
    sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join(':' + c for c in cols)})"
    conn.executemany(sql, rows)


def fetch_in(conn: sqlite3.Connection, sql: str, ids: Sequence[str]) -> list[sqlite3.Row]:
    """Run ``sql`` whose ``{marks}`` is replaced by one placeholder per id."""
    return conn.execute(sql.format(marks=", ".join("?" * len(ids))), list(ids)).fetchall()


def in_order(
    rows: Iterable[dict[str, Any]], ids: Sequence[str], key: str = "id"
) -> list[dict[str, Any]]:
    """Found rows in the order the caller asked for them."""
    by_id = {r[key]: r for r in rows}
    return [by_id[i] for i in ids if i in by_id]


# -- command line ----------------------------------------------------------------------


def service_parser(name: str, default_port: int) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"python -m waveform.services.{name}")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=default_port)
    parser.add_argument("--data-dir", type=Path, default=Path("var/data"))
    parser.add_argument("--scale", type=int, default=DEFAULT_SCALE)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--log-level", default=os.environ.get("WAVEFORM_LOG_LEVEL", "warning"))
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("WAVEFORM_REDIS_URL") or None,
        help="publish and consume change events (see events.py)",
    )
    parser.add_argument(
        "--tokens",
        default=os.environ.get("WAVEFORM_TOKENS_URL", DEFAULT_TOKENS_URL),
        help="the token service, whose JWKS verifies internal tokens",
    )
    parser.add_argument(
        "--grpc-port",
        type=int,
        default=0,
        help="also serve the service's gRPC API here (services with a proto; 0: off)",
    )
    return parser


def serve(app: FastAPI, args: argparse.Namespace) -> None:
    """Run uvicorn quietly: one access line per request only with WAVEFORM_ACCESS_LOG=1."""
    import uvicorn

    auth = getattr(app.state, "internal_auth", None)
    if isinstance(auth, InternalAuth):
        auth.tokens_url = args.tokens.rstrip("/")
    options: dict[str, Any] = {
        "host": args.host,
        "port": args.port,
        "log_level": args.log_level,
        "access_log": os.environ.get("WAVEFORM_ACCESS_LOG") == "1",
        "server_header": False,
    }
    grpc_port = getattr(args, "grpc_port", 0)
    if not isinstance(auth, InternalAuth) or auth.service not in PROTOS:
        uvicorn.run(app, **options)
        return
    import uvloop

    from waveform.services.grpc_api import connect_api, start_grpc

    # A service with a proto answers its methods over the Connect protocol on its HTTP port,
    # and over gRPC on --grpc-port when given.
    served = connect_api(app, auth.service)
    if not grpc_port:
        uvicorn.run(served, **options)
        return

    async def both() -> None:
        # One loop serves both APIs: the gRPC methods call the app's routes in-process.
        grpc_server = await start_grpc(app, auth.service, args.host, grpc_port)
        try:
            await uvicorn.Server(uvicorn.Config(served, **options)).serve()
        finally:
            await grpc_server.stop(1.0)

    uvloop.run(both())


def setup_logging(args: argparse.Namespace) -> None:
    logging.basicConfig(
        stream=sys.stderr,
        level=args.log_level.upper(),
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )


def run_service(
    name: str,
    default_port: int,
    schema: str,
    load: Loader,
    build_app: Callable[[sqlite3.Connection, argparse.Namespace], FastAPI],
    argv: Sequence[str] | None = None,
    extend: Callable[[argparse.ArgumentParser], None] | None = None,
) -> None:
    """The whole ``main`` of a database-backed service."""
    parser = service_parser(name, default_port)
    if extend is not None:
        extend(parser)
    args = parser.parse_args(argv)
    setup_logging(args)
    conn = open_database(args.data_dir, name, args.seed, args.scale, schema, load)
    serve(build_app(conn, args), args)


def row_dict(
    row: sqlite3.Row, bools: Iterable[str] = (), json_cols: Iterable[str] = ()
) -> dict[str, Any]:
    """A sqlite row as the service's full representation (0/1 -> bool, JSON text -> value)."""
    out = dict(row)
    for col in bools:
        out[col] = bool(out[col])
    for col in json_cols:
        out[col] = msgspec.json.decode(out[col])
    return out
