"""Server-agnostic request and response objects.

The RSGI and ASGI entry points translate their server's shapes into these, so every stage and
handler is written once. Header names are lower-case.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterable, AsyncIterator, Callable, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar
from urllib.parse import parse_qs

import msgspec

if TYPE_CHECKING:
    from tailor.aggregate.engine import Degradation, Engine
    from tailor.auth.apps import App
    from tailor.auth.principal import Principal
    from tailor.auth.session import SessionManager
    from tailor.clients.identity import ClientInfo
    from tailor.resilience.allowance import CallAllowance
    from tailor.routing import Route
    from tailor.trace.span import RequestTrace
    from tailor.upstream.client import UpstreamClient

BodyReader = Callable[[], AsyncIterable[bytes]]


async def _no_body() -> AsyncIterator[bytes]:
    return
    yield b""  # pragma: no cover - makes this an async generator


class _RequestLine(msgspec.Struct, eq=False):
    """What every request is constructed with, positionally (see :class:`Request`)."""

    method: str
    path: str
    query_string: str
    headers: dict[str, str]
    client: str


# A Struct, not a plain class: one is built per request, and a Struct's constructor (with its
# defaults and default factories) runs in C. eq=False: requests compare (and hash) by identity.
class Request(_RequestLine, kw_only=True, eq=False):
    """One inbound request as every stage sees it.

    What stages leave for the stages and handlers after them is a typed attribute, each with
    its one writer: ``client_cert`` (the server: the TLS client certificate, DER),
    ``first_on_connection`` (the server: the first request of a connection it admitted at
    accept, which shed lets past a cap that shrank since),
    ``allowance`` (shed), ``sessions`` (authenticate), ``app`` (entitle), ``engine``,
    ``upstreams`` and ``parsed_query`` (handler), ``cache_tags`` (:func:`tailor.cache.tag`),
    ``degraded`` (:func:`tailor.aggregate.aggregate`), ``error_cause`` (errors, shed: the
    label the error metrics count a 5xx under), ``stale_session`` (authenticate: the 401 is
    for a session the store forgot, which authguard does not count as a guess),
    ``client_info`` (clients: the caller's app, platform and version) and ``coding``
    (cache: the content coding a fill asks the compress stage below for, identity, since the
    cache makes every coding's variant itself; ``None``: compress negotiates it) and
    ``cache_outcome`` (cache: its ``x-cache`` answer, ``hit``, ``miss``, ...). ``state`` is
    the BFF's own: tailor never reads or writes it.

    >>> r = Request("GET", "/v1/home", "a=1", {"host": "example"}, "127.0.0.1")
    >>> r.query["a"]
    '1'
    """

    scheme: str = "http"
    read_body: BodyReader = _no_body
    body: bytes = b""
    received_at: float = msgspec.field(default_factory=time.perf_counter)
    request_id: str = ""
    route: Route | None = None
    path_params: dict[str, str] = msgspec.field(default_factory=dict)
    principal: Principal | None = None
    upstreams: UpstreamClient | None = None
    engine: Engine | None = None
    allowance: CallAllowance | None = None
    client_cert: bytes | None = None
    first_on_connection: bool = False
    sessions: SessionManager | None = None
    app: App | None = None
    parsed_query: dict[str, Any] = {}
    cache_tags: list[str] | None = None
    degraded: Sequence[Degradation] = ()
    error_cause: str | None = None
    stale_session: bool = False
    trace: RequestTrace | None = None
    stage: str = ""
    client_info: ClientInfo | None = None
    coding: str | None = None
    cache_outcome: str = ""
    state: dict[str, Any] = msgspec.field(default_factory=dict)
    _query: dict[str, str] | None = None

    def __repr__(self) -> str:
        # Never the fields: the headers hold the caller's credentials.
        return f"<Request {self.method} {self.path}>"

    def __rich_repr__(self) -> list[tuple[str, Any]]:
        # msgspec gives Structs a rich repr of every field: rich tracebacks with locals, or a
        # rich logging handler, would print the credentials. Only what __repr__ shows.
        return [("method", self.method), ("path", self.path)]

    @property
    def query(self) -> dict[str, str]:
        """Query parameters, first value wins. Parsed once, on first use."""
        if self._query is None:
            parsed = parse_qs(self.query_string, keep_blank_values=True)
            self._query = {k: v[0] for k, v in parsed.items()}
        return self._query


class Response:
    """What a stage or handler answers. ``headers`` is a list so a stage can append cheaply."""

    __slots__ = ("body", "headers", "status")

    def __init__(
        self, status: int = 200, body: bytes = b"", headers: list[tuple[str, str]] | None = None
    ) -> None:
        self.status = status
        self.body = body
        self.headers = headers if headers is not None else []

    def header(self, name: str) -> str | None:
        """The first value of a header, by lower-case name."""
        for key, value in self.headers:
            if key == name:
                return value
        return None


B = TypeVar("B")


class Json(Response, Generic[B]):
    """A response whose body is a ``B`` encoded as JSON. A handler annotated ``-> Json[Home]``
    declares its response type: mypy checks it against what the handler returns
    (:func:`json_response`, :func:`tailor.aggregate.aggregate`), and the BFF's OpenAPI
    document (:mod:`tailor.openapi`) reads it from the annotation."""

    __slots__ = ()


_json_encode = msgspec.json.Encoder().encode
JSON_CONTENT_TYPE = ("content-type", "application/json")


def json_response(data: B, status: int = 200) -> Json[B]:
    """Encode a msgspec struct (or plain data) as a JSON response."""
    return Json(status, _json_encode(data), [JSON_CONTENT_TYPE])
