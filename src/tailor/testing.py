"""Test a BFF at the transport seam: in-process, through its whole pipeline, with canned
answers for its upstream calls and no sockets.

>>> import asyncio
>>> from tailor import BFF, Part, Plan, Request, Response, aggregate, build_config
>>> from tailor.aggregate import AggregateBody
>>> class Greeting(AggregateBody, kw_only=True):
...     name: str
>>> bff = BFF(build_config({"name": "demo", "upstreams": {"users": "http://users.internal"}}))
>>> @bff.get("/hello", auth=False, plan=Plan((Part("me", "users", "/users/u1", into=dict),)))
... async def hello(request: Request) -> Response:
...     return await aggregate(request, lambda o: Greeting(name=o["me"]["name"]))
>>> upstreams = CannedUpstreams()
>>> upstreams.answer("users", "/users/u1", {"name": "Ada"})
>>> async def main() -> Response:
...     async with TestClient(bff, upstreams) as client:
...         return await client.get("/hello")
>>> response = asyncio.run(main())
>>> response.status, response.body
(200, b'{"name":"Ada"}')
>>> [(r.upstream, r.method, r.url) for r in upstreams.requests]
[('users', 'GET', 'http://users.internal/users/u1')]
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from functools import cached_property
from types import TracebackType
from typing import Any
from urllib.parse import urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from tailor.app import BFF
from tailor.http import BodyReader, Request, Response
from tailor.upstream.mock import MockTransport
from tailor.upstream.transport import UpstreamRequest, UpstreamResponse

#: The address an in-process request comes from (TEST-NET-3: never a real client).
CLIENT_ADDRESS = "203.0.113.7"

_JSON = {"content-type": "application/json"}


class CannedUpstreams:
    """Canned answers for a BFF's inward calls, by upstream name, method and path; every
    call is recorded in :attr:`requests`. A call nothing answers gets a 404 (so a test sees
    it as a lost part rather than hanging)."""

    def __init__(self) -> None:
        self._answers: dict[tuple[str, str, str], UpstreamResponse] = {}
        self.transport = MockTransport(self._respond)

    def answer(
        self,
        upstream: str,
        path: str,
        json_body: Any = None,
        *,
        status: int = 200,
        method: str = "GET",
        body: bytes | None = None,
    ) -> None:
        """Answer ``method path`` on ``upstream`` with ``json_body`` encoded as JSON (or the
        raw ``body``). The query string is not part of the match."""
        raw = body if body is not None else json.dumps(json_body).encode()
        self._answers[(upstream, method, path)] = UpstreamResponse(status, _JSON, raw)

    @property
    def requests(self) -> list[UpstreamRequest]:
        return self.transport.requests

    async def _respond(self, request: UpstreamRequest) -> UpstreamResponse:
        path = urlsplit(request.url).path
        answer = self._answers.get((request.upstream, request.method, path))
        return answer if answer is not None else UpstreamResponse(404, _JSON, b"{}")


async def call(
    bff: BFF,
    method: str = "GET",
    path: str = "/",
    *,
    query: str | Mapping[str, str] = "",
    headers: Mapping[str, str] | None = None,
    body: bytes | None = None,
    chunks: Sequence[bytes] | None = None,
    read_body: BodyReader | None = None,
) -> Response:
    """Send one request through the whole pipeline of ``bff`` (started without its admin
    listener if it is not running). ``body`` sets content-length; ``chunks`` sends a chunked
    body."""
    bff.startup(admin=False)  # idempotent: a test that wants the admin listener starts it first
    hdrs = {k.lower(): v for k, v in (headers or {}).items()}
    hdrs.setdefault("host", "bff.test")
    reader = read_body
    if body is not None:
        hdrs["content-length"] = str(len(body))
        reader = reader or _reader([body])
    elif chunks is not None:
        hdrs["transfer-encoding"] = "chunked"
        reader = reader or _reader(chunks)
    query_string = query if isinstance(query, str) else urlencode(query)
    request = (
        Request(method, path, query_string, hdrs, CLIENT_ADDRESS, read_body=reader)
        if reader is not None
        else Request(method, path, query_string, hdrs, CLIENT_ADDRESS)
    )
    return await bff.handle(request)


def _reader(chunks: Sequence[bytes]) -> BodyReader:
    async def read_body() -> AsyncIterator[bytes]:
        for chunk in chunks:
            yield chunk

    return read_body


class TestClient:
    """A BFF whose upstream calls go to ``upstreams``, for one test: ``async with
    TestClient(build(config), upstreams) as client: await client.get(...)``. The BFF must
    not have started yet (its transport is chosen at startup); it is shut down on exit."""

    __test__ = False  # not a pytest test class, despite its name

    def __init__(self, bff: BFF, upstreams: CannedUpstreams) -> None:
        if bff.stages:
            raise RuntimeError("TestClient needs a BFF that has not started")
        bff._transport = upstreams.transport
        self.bff = bff
        self.upstreams = upstreams

    async def __aenter__(self) -> TestClient:
        self.bff.startup(admin=False)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.bff.shutdown()

    async def request(self, method: str, path: str, **options: Any) -> Response:
        """One request through the pipeline (options as for :func:`call`)."""
        return await call(self.bff, method, path, **options)

    async def get(self, path: str, **options: Any) -> Response:
        return await self.request("GET", path, **options)

    async def post(self, path: str, **options: Any) -> Response:
        return await self.request("POST", path, **options)


class TokenIssuer:
    """An identity provider for tests: an RSA key made once per issuer, its JWKS (for a
    canned ``auth.jwt`` key endpoint) and bearer tokens signed with it.

    >>> issuer = TokenIssuer("https://id.example", "my-bff")
    >>> [key["kid"] for key in issuer.jwks["keys"]]
    ['test-key']
    >>> issuer.bearer("u1")["authorization"].startswith("Bearer ")
    True
    """

    def __init__(self, issuer: str, audience: str, *, kid: str = "test-key") -> None:
        self.issuer = issuer
        self.audience = audience
        self.kid = kid

    @cached_property
    def _key(self) -> rsa.RSAPrivateKey:
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)

    @property
    def jwks(self) -> dict[str, Any]:
        public = json.loads(RSAAlgorithm.to_jwk(self._key.public_key()))
        public.update({"kid": self.kid, "alg": "RS256", "use": "sig"})
        return {"keys": [public]}

    def token(self, subject: str, *, ttl_s: int = 600, **claims: Any) -> str:
        now = int(time.time())
        payload = {
            "sub": subject,
            "iss": self.issuer,
            "aud": self.audience,
            "iat": now,
            "exp": now + ttl_s,
            **claims,
        }
        return jwt.encode(payload, self._key, algorithm="RS256", headers={"kid": self.kid})

    def bearer(self, subject: str, **claims: Any) -> dict[str, str]:
        """The ``authorization`` header of a request by ``subject``."""
        return {"authorization": f"Bearer {self.token(subject, **claims)}"}
