"""Content codings, both ways: compressed request bodies in, a negotiated coding out.

On the way down it picks the coding of the answer from ``Accept-Encoding``
(:mod:`tailor.compression.negotiate`: 406 when the header rules out everything, identity
included), unless a stage above has set ``request.coding``; a request body with a
``Content-Encoding`` is decoded in bounded steps (413 past ``compression.max_decoded_bytes``,
415 for a coding not in ``compression.codings``, 400 for bytes that are not that coding), so
the handler sees plain bytes. On the way back a compressible response
(:mod:`tailor.compression.represent`) gets ``Vary: Accept-Encoding`` and, when the coding is
not identity, its compressed body with its own strong ETag.

It sits right below the cache stage, so a cache hit never reaches it: the cache answers a
hit from the variant of the negotiated coding that it stored when it filled the entry, and
asks this stage for identity when it fills one (it makes every coding itself). Only
authenticated, rate-limited callers make the edge decode anything.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tailor.cache.entry import strong_etag
from tailor.chain import Chain, Outcome, then
from tailor.compression.codecs import MalformedBody, decode
from tailor.compression.negotiate import IDENTITY, Negotiator, coding_name
from tailor.compression.represent import Representations, encoded_headers, with_vary
from tailor.http import Request, Response
from tailor.problem import problem_response

if TYPE_CHECKING:
    from tailor.pipeline import BuildContext


class CompressStage:
    name = "compress"

    def __init__(self, representations: Representations, max_decoded_bytes: int) -> None:
        self.representations = representations
        self._max_decoded = max_decoded_bytes
        offered = representations.codings
        self._offered = ", ".join((*offered, IDENTITY))
        self._accepted = ("accept-encoding", ", ".join(offered))

    @classmethod
    def build(cls, ctx: BuildContext) -> CompressStage | None:
        settings = ctx.config.compression
        if not settings.enabled:
            return None
        return cls(Representations(settings, settings.levels), settings.max_decoded_bytes)

    def wrap(self, next_handler: Chain) -> Chain:
        negotiator = Negotiator(self.representations.codings)
        known, choose = negotiator.known, negotiator.choose
        represent = self.representations

        # Not a coroutine: a cache hit below comes back as a Response and goes on up at once.
        def compress(request: Request) -> Outcome:
            headers = request.headers
            accept = headers.get("accept-encoding")
            # Set above (the cache filling an entry), or a value seen before: one lookup.
            coding = request.coding or known.get(accept) or choose(accept)
            if coding is None:
                return problem_response(
                    406,
                    f"no acceptable content coding; this API offers {self._offered}",
                    request_id=request.request_id,
                )
            if "content-encoding" in headers:
                refused = self._decode_body(request, headers.pop("content-encoding"))
                if refused is not None:
                    return refused
            return then(next_handler(request), finish, coding)

        def finish(response: Response, coding: str) -> Response:
            if not represent.compressible(response.status, response.headers, response.body):
                return response
            headers = with_vary(response.headers)
            body = represent.encode(coding, response.body) if coding != IDENTITY else None
            if body is None or len(body) >= len(response.body):
                response.headers = headers
                return response
            etag = strong_etag(body) if any(name == "etag" for name, _ in headers) else None
            return Response(response.status, body, encoded_headers(headers, coding, etag))

        return compress

    def _decode_body(self, request: Request, content_encoding: str) -> Response | None:
        """Decode ``request.body`` in place; a refusal when it cannot be."""
        coding = coding_name(content_encoding)
        if coding in ("", IDENTITY) or not request.body:
            return None
        if coding not in self.representations.codings:
            return problem_response(
                415,
                f"request body coding {coding!r} is not supported",
                headers=(self._accepted,),
                request_id=request.request_id,
            )
        try:
            body = decode(coding, request.body, limit=self._max_decoded)
        except MalformedBody:
            return problem_response(
                400, f"request body is not valid {coding}", request_id=request.request_id
            )
        if body is None:
            return problem_response(
                413,
                f"request body decodes to over {self._max_decoded} bytes",
                request_id=request.request_id,
            )
        request.body = body
        request.headers["content-length"] = str(len(body))
        return None
