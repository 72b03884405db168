"""A browser client served by its BFF, on the BFF's own origin: a stage that answers the
client's files before routing, from a manifest built once at startup.

The directory holds the client as a browser loads it: ``index.html`` and the ES modules,
stylesheets and images it refers to, with no build step. At startup every other file gets a
name with its content's digest in it (``app.js`` -> ``/assets/app.3f9c2a7d1b0e.js``) and the
references between files are rewritten to those names: ``src``/``href`` in HTML, ``import``
and ``export ... from`` specifiers in JavaScript, ``url()`` and ``@import`` in CSS. A file is
named after its references are rewritten, so a change anywhere renames every file that leads
to it (a Merkle chain), and each asset can be cached forever (``immutable``) while
``index.html`` is revalidated on every load (``no-cache``, with an ETag). A reference to a
file that is not there, or a cycle of imports, stops startup naming the file.

Each text file is also compressed once, at startup, in every coding given (the smaller ones
are kept), and the answer's coding is negotiated from ``Accept-Encoding`` as the compress
stage does. Every answer carries a strong ETag (``If-None-Match`` gets a 304) and
``X-Content-Type-Options: nosniff``; the page carries the Content-Security-Policy (strict by
default: scripts, styles and connections from this origin only, nothing inline).

The stage only answers ``GET`` and ``HEAD`` of the paths it knows; everything else (the API)
goes on down the chain untouched, at the cost of one dict lookup.

>>> import pathlib, tempfile
>>> root = pathlib.Path(tempfile.mkdtemp())
>>> _ = (root / "index.html").write_text('<script type="module" src="app.js"></script>')
>>> _ = (root / "app.js").write_text('import { x } from "./x.js";\\nconsole.log(x);')
>>> _ = (root / "x.js").write_text("export const x = 1;")
>>> site = StaticSite(root)
>>> site.manifest
{'x.js': '/assets/x.2bf28849cade.js', 'app.js': '/assets/app.879e1ec2f4c8.js', 'index.html': '/'}
>>> print(site.asset("/assets/app.879e1ec2f4c8.js").body.decode())
import { x } from "/assets/x.2bf28849cade.js";
console.log(x);
"""

from __future__ import annotations

import hashlib
import mimetypes
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from tailor.cache.entry import strong_etag
from tailor.cache.headers import etag_matches
from tailor.chain import Chain, Outcome
from tailor.compression.codecs import encoder
from tailor.compression.negotiate import IDENTITY, Negotiator
from tailor.errors import ConfigError
from tailor.http import Request, Response
from tailor.routing import Route

if TYPE_CHECKING:
    from tailor.pipeline import BuildContext

#: The policy of the page: everything from this origin only, nothing inline, no framing.
#: ``connect-src 'self'`` covers the page's fetches and its WebSocket (CSP 3 matches ws: and
#: wss: of the same host to 'self').
DEFAULT_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; manifest-src 'self'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
IMMUTABLE = "public, max-age=31536000, immutable"
#: The page itself: kept, but revalidated (its ETag) on every load, so a new deploy's asset
#: names are seen at once.
REVALIDATE = "no-cache"
#: Levels for compressing once at startup, in every worker: the slowest ones (br 11, zstd 19)
#: would hold up each worker's start for a few per cent fewer bytes.
STARTUP_LEVELS = {"gzip": 9, "br": 6, "zstd": 9}
TEXT_TYPES = ("text/", "application/javascript", "application/json", "image/svg+xml")
_MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".webmanifest": "application/manifest+json",
    ".woff2": "font/woff2",
    ".png": "image/png",
    ".ico": "image/x-icon",
}
#: References by kind of file: the quoted or bare target is the group named ``ref``.
_REFERENCES: dict[str, tuple[re.Pattern[str], ...]] = {
    ".html": (re.compile(r"""\b(?:src|href)\s*=\s*(?P<q>["'])(?P<ref>[^"']+)(?P=q)"""),),
    ".js": (
        re.compile(
            r"""(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)(?P<q>["'])(?P<ref>\.{1,2}/[^"'\n]+)(?P=q)"""
        ),
    ),
    ".css": (
        re.compile(r"""url\(\s*(?P<q>["']?)(?P<ref>[^"')\s]+)(?P=q)\s*\)"""),
        re.compile(r"""@import\s+(?P<q>["'])(?P<ref>[^"']+)(?P=q)"""),
    ),
}
_REFERENCES[".mjs"] = _REFERENCES[".js"]
#: What is never a file of the client: another origin, this origin's API, a fragment, data.
_EXTERNAL = re.compile(r"^(?:[a-zA-Z][a-zA-Z0-9+.-]*:|//|/|#)")
_NOSNIFF = ("x-content-type-options", "nosniff")


async def _never(request: Request) -> Response:  # pragma: no cover - the stage answers itself
    raise RuntimeError("static files are answered by the static stage")


#: What metrics and the access log count the client's files under (one series, not one per
#: file: a deploy's new names must not grow the label set).
STATIC_ROUTE = Route("GET", "(static)", _never, auth=False)


@dataclass(frozen=True, slots=True)
class Asset:
    """One file as served: its bytes in each coding, by coding (identity included), each
    with its own strong ETag, and the headers every answer of it carries."""

    url: str
    headers: tuple[tuple[str, str], ...]
    bodies: dict[str, tuple[bytes, str]]
    negotiator: Negotiator = field(repr=False)

    @property
    def body(self) -> bytes:
        return self.bodies[IDENTITY][0]


class StaticSite:
    """A client directory served by a BFF: ``index.html`` at ``mount``, every other file
    under ``prefix`` with its content digest in its name. Added to a BFF as a stage, before
    routing, so its files need no route, no authentication and no rate limit of the API.

    >>> from tailor import BFF, build_config
    >>> import pathlib, tempfile
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (root / "index.html").write_text("<h1>hi</h1>")
    >>> bff = BFF(build_config({"name": "web"}))
    >>> bff.add_stage(StaticSite(root), before="route")
    >>> import asyncio
    >>> from tailor import Request
    >>> page = asyncio.run(bff.handle(Request("GET", "/", "", {}, "127.0.0.1")))
    >>> page.status, page.header("cache-control"), page.body
    (200, 'no-cache', b'<h1>hi</h1>')
    """

    name = "static"

    def __init__(
        self,
        directory: str | Path,
        *,
        index: str = "index.html",
        mount: str = "/",
        prefix: str = "/assets/",
        csp: str = DEFAULT_CSP,
        codings: Sequence[str] = ("br", "gzip"),
    ) -> None:
        self.directory = Path(directory)
        if not (self.directory / index).is_file():
            raise ConfigError("static.directory", f"{self.directory} has no {index}")
        if not prefix.startswith("/") or not prefix.endswith("/"):
            raise ConfigError("static.prefix", f"{prefix!r} must start and end with '/'")
        self.index = index
        self.prefix = prefix
        self.csp = csp
        unknown = [c for c in codings if c not in STARTUP_LEVELS]
        if unknown:
            raise ConfigError(
                "static.codings", f"unknown codings {unknown}: {list(STARTUP_LEVELS)}"
            )
        self._encoders = {c: encoder(c, STARTUP_LEVELS[c]) for c in codings}
        #: Each file of the directory (its path relative to it) -> the URL it is served at.
        self.manifest: dict[str, str] = {}
        self._assets: dict[str, Asset] = {}
        self._build(mount)

    # -- the manifest ------------------------------------------------------------------

    def _build(self, mount: str) -> None:
        files = sorted(
            p.relative_to(self.directory).as_posix()
            for p in self.directory.rglob("*")
            if p.is_file() and not any(part.startswith(".") for part in p.parts)
        )
        sources = {name: (self.directory / name).read_bytes() for name in files}
        visiting: list[str] = []

        def serve(name: str) -> str:
            if name in self.manifest:
                return self.manifest[name]
            if name in visiting:
                cycle = " -> ".join([*visiting[visiting.index(name) :], name])
                raise ConfigError("static.directory", f"a cycle of references: {cycle}")
            visiting.append(name)
            body = self._rewrite(name, sources, serve)
            visiting.pop()
            url = mount if name == self.index else self._hashed_url(name, body)
            self.manifest[name] = url
            self._assets[url] = self._asset(name, url, body)
            return url

        for name in files:
            serve(name)

    def _rewrite(self, name: str, sources: dict[str, bytes], serve: Callable[[str], str]) -> bytes:
        """The file's bytes with each reference to another file of the client replaced by
        that file's URL (which names it first)."""
        suffix = PurePosixPath(name).suffix
        patterns = _REFERENCES.get(suffix)
        if not patterns:
            return sources[name]
        try:
            text = sources[name].decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ConfigError("static.directory", f"{name} is not UTF-8: {exc}") from exc
        base = PurePosixPath(name).parent

        def replace(match: re.Match[str]) -> str:
            ref = match.group("ref")
            if _EXTERNAL.match(ref):
                return match.group(0)
            cut = min((i for i in (ref.find("?"), ref.find("#")) if i >= 0), default=len(ref))
            target = _normalize(base / ref[:cut])
            if target is None or target not in sources:
                raise ConfigError(
                    "static.directory", f"{name} refers to {ref!r}, which is not in the client"
                )
            start, end = match.span("ref")
            whole = match.group(0)
            offset = match.start()
            url = serve(target) + ref[cut:]
            return whole[: start - offset] + url + whole[end - offset :]

        for pattern in patterns:
            text = pattern.sub(replace, text)
        return text.encode("utf-8")

    def _hashed_url(self, name: str, body: bytes) -> str:
        path = PurePosixPath(name)
        digest = hashlib.sha256(body).hexdigest()[:12]
        return f"{self.prefix}{path.with_name(f'{path.stem}.{digest}{path.suffix}')}"

    def _asset(self, name: str, url: str, body: bytes) -> Asset:
        suffix = PurePosixPath(name).suffix
        media = _MEDIA_TYPES.get(suffix) or mimetypes.guess_type(name)[0]
        media = media or "application/octet-stream"
        page = name == self.index
        headers = [
            ("content-type", media),
            ("cache-control", REVALIDATE if page else IMMUTABLE),
            _NOSNIFF,
        ]
        if page:
            headers += [
                ("content-security-policy", self.csp),
                ("referrer-policy", "no-referrer"),
                ("cross-origin-opener-policy", "same-origin"),
            ]
        bodies = {IDENTITY: (body, strong_etag(body))}
        if media.startswith(TEXT_TYPES):
            for coding, encode in self._encoders.items():
                encoded = encode(body)
                if len(encoded) < len(body):
                    bodies[coding] = (encoded, strong_etag(encoded))
        if len(bodies) > 1:
            headers.append(("vary", "accept-encoding"))
        offered = [c for c in self._encoders if c in bodies]
        return Asset(url, tuple(headers), bodies, Negotiator(offered))

    # -- serving -----------------------------------------------------------------------

    def paths(self) -> Iterable[str]:
        """Every path the stage answers."""
        return self._assets.keys()

    def asset(self, path: str) -> Asset:
        return self._assets[path]

    def answer(self, asset: Asset, request: Request) -> Response:
        """``asset`` in the coding the request accepts (identity when it accepts none of
        the compressed ones), or a 304 when its ``If-None-Match`` names that coding's ETag."""
        coding = asset.negotiator.coding(request.headers.get("accept-encoding")) or IDENTITY
        body, etag = asset.bodies[coding]
        headers = [*asset.headers, ("etag", etag)]
        if etag_matches(request.headers.get("if-none-match"), etag):
            return Response(304, b"", headers)
        if coding != IDENTITY:
            headers.append(("content-encoding", coding))
        return Response(200, body, headers)  # a HEAD's body is left out by the server

    # -- the stage ---------------------------------------------------------------------

    def build(self, ctx: BuildContext) -> StaticSite:
        return self

    def wrap(self, next_handler: Chain) -> Chain:
        assets = self._assets
        answer = self.answer

        def static(request: Request) -> Outcome:
            asset = assets.get(request.path)
            if asset is None or request.method not in ("GET", "HEAD"):
                return next_handler(request)
            request.route = STATIC_ROUTE
            return answer(asset, request)

        return static


def _normalize(path: PurePosixPath) -> str | None:
    """``path`` with ``.`` and ``..`` resolved; ``None`` when it leaves the directory."""
    parts: list[str] = []
    for part in path.parts:
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                return None
            parts.pop()
        else:
            parts.append(part)
    return "/".join(parts)
