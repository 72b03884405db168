"""The upstream fixture: what the mobile home really fetches, served as static files by nginx.

The reference services are started once (Platform API, services only, ephemeral ports, a
temporary data directory); the real mobile BFF, in-process with its full profile, logs alice in
and serves her home screen once through a transport that records every inward call: the
accounts JWKS, the app registry, internal-token exchanges and the home plan's fan-out. The
recorded bodies are written to files and an nginx.conf maps each exact path to its file, so
during the load the upstreams cost almost nothing and every contender reads the same bytes.
The latency scenario serves the same files from a second nginx that holds every answer for a
fixed delay first (the echo module's ``echo_sleep``, a timer in nginx's own event loop).
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import jwt
from cryptography.hazmat.primitives import serialization

from benchmarks.tools import ECHO_MODULE, ensure_tools
from tailor.config import build_config, deep_merge
from tailor.http import Request
from tailor.upstream import UpstreamRequest, UpstreamResponse
from tailor.upstream.pyreqwest_transport import PyreqwestTransport
from waveform.bffs.mobile.app import PROFILE, build
from waveform.seed import token_client_secret
from waveform.services import accounts
from waveform.supervisor import TOKEN_SECRET_ENV, Platform, free_ports

if TYPE_CHECKING:
    from benchmarks.procs import Processes

USER = "alice"
USER_ID = "u1"
PASSWORD = "wave-alice"
AUDIENCE = "waveform-mobile"
JWKS_PATH = "/.well-known/jwks.json"


@dataclass
class Recorded:
    """One upstream call as the BFF made it."""

    upstream: str
    method: str
    url: str
    headers: list[tuple[str, str]]
    status: int
    body: bytes


class RecordingTransport:
    """Wraps a transport and keeps every request with the response it got."""

    def __init__(self, inner: PyreqwestTransport) -> None:
        self.inner = inner
        self.calls: list[Recorded] = []

    async def send(self, request: UpstreamRequest) -> UpstreamResponse:
        response = await self.inner.send(request)
        self.calls.append(
            Recorded(
                request.upstream,
                request.method,
                request.url,
                list(request.headers),
                response.status,
                bytes(response.body),
            )
        )
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


@dataclass
class Fixture:
    """Files on disk, and what a contender needs to know about them."""

    root: Path
    token: str
    #: path -> file (queries dropped: nginx matches the path only)
    files: dict[str, Path] = field(default_factory=dict)
    calls: list[Recorded] = field(default_factory=list)
    #: paths recorded from non-GET calls (served with ``return`` rather than a file)
    posts: set[str] = field(default_factory=set)

    def describe(self) -> list[str]:
        return [
            f"{c.method} {urlsplit(c.url).path}"
            + (f"?{urlsplit(c.url).query}" if urlsplit(c.url).query else "")
            + f" -> {c.status}, {len(c.body)} B"
            for c in self.calls
        ]


async def _body(data: bytes) -> AsyncIterator[bytes]:
    yield data


#: How long the bench's token lives: longer than any run. The real one lives 15 min
#: (waveform.services.accounts.TOKEN_TTL) and a full run takes longer: the last scenario's
#: rounds were 401s, then 429s from the failed-authentication guard.
BENCH_TOKEN_TTL_S = 6 * 3600


def _outlasting_the_run(token: str, platform: Platform) -> str:
    """alice's access token as accounts issued it, re-signed with the same key (the platform's
    own, in its data dir) to expire after ``BENCH_TOKEN_TTL_S``. Recording the home with it
    proves the BFF accepts it as it accepts the original."""
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, options={"verify_signature": False})
    key = serialization.load_pem_private_key(
        (platform.data_dir / accounts.KEY_FILE).read_bytes(), password=None
    )
    claims["exp"] = int(time.time()) + BENCH_TOKEN_TTL_S
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": header["kid"]})  # type: ignore[arg-type]


async def _record_home(platform: Platform) -> tuple[str, list[Recorded]]:
    """Log alice in and fetch her home once through the real mobile BFF (in-process, full
    pipeline), recording every inward call the home request makes."""
    os.environ[TOKEN_SECRET_ENV] = token_client_secret(platform.seed, "bff-mobile")
    overrides = {
        "admin": {"enabled": False},
        "upstreams": {name: platform.url(name) for name in platform.ports},
    }
    transport = RecordingTransport(PyreqwestTransport())
    bff = build(build_config(deep_merge(PROFILE, overrides)))
    bff._transport = transport  # the recording seam; startup wraps it like any transport
    bff.startup(admin=False)
    try:
        form = json.dumps({"grant_type": "password", "username": USER, "password": PASSWORD})
        login = await bff.handle(
            Request(
                "POST",
                "/v1/auth/token",
                "",
                {"content-type": "application/json", "content-length": str(len(form))},
                "127.0.0.1",
                read_body=lambda: _body(form.encode()),
            )
        )
        if login.status != 200:
            raise RuntimeError(f"login answered {login.status}: {login.body[:300]!r}")
        token = _outlasting_the_run(str(json.loads(login.body)["access_token"]), platform)
        transport.calls.clear()  # only what serving the home screen needs
        home = await bff.handle(
            Request("GET", "/v1/home", "", {"authorization": f"Bearer {token}"}, "127.0.0.1")
        )
        if home.status != 200 or home.header("tailor-degraded"):
            raise RuntimeError(f"the home screen failed while recording: {home.body[:300]!r}")
    finally:
        await bff.shutdown()
    return token, transport.calls


def record(root: Path) -> Fixture:
    """Start the services, record the home fan-out (and everything the pipeline itself
    fetches: JWKS, app registry, internal tokens) into ``root``, stop them."""
    root.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory(prefix="tailor-bench-data-") as data,
        Platform(data, ephemeral=True, components="services") as platform,
    ):
        if platform.failures:
            raise RuntimeError(
                "services failed to start:\n"
                + "\n".join(f.describe() for f in platform.failures.values())
            )
        token, calls = asyncio.run(_record_home(platform))
    fixture = Fixture(root=root, token=token, calls=calls)
    bodies = root / "bodies"
    bodies.mkdir(exist_ok=True)
    for i, call in enumerate(calls):
        if call.status != 200:
            raise RuntimeError(f"{call.url} answered {call.status} while recording")
        path = urlsplit(call.url).path
        if path in fixture.files:
            # nginx ignores queries, so two different bodies on one path cannot be served.
            # POSTs (token exchanges for different audiences) are answered with the first
            # one: the BFF does not inspect the internal tokens it forwards.
            if call.method == "GET" and fixture.files[path].read_bytes() != call.body:
                raise RuntimeError(f"two different bodies recorded for {path}")
            continue
        file = bodies / f"{i:02d}.json"
        file.write_bytes(call.body)
        fixture.files[path] = file
        if call.method != "GET":
            fixture.posts.add(path)
    (root / "recorded.json").write_text(
        json.dumps(
            [
                {"upstream": c.upstream, "method": c.method, "url": c.url, "bytes": len(c.body)}
                for c in calls
            ],
            indent=2,
        )
    )
    return fixture


NGINX_CONF = """\
# generated by benchmarks/fixture.py: the recorded upstream bodies, {job}
{modules}worker_processes 1;
daemon off;
pid {root}/{name}.pid;
error_log {root}/{name}-error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {root}/{name}-tmp;
    keepalive_requests 1000000;
    keepalive_timeout 120s;
    sendfile on;
    tcp_nodelay on;
    open_file_cache max=64;
    etag off;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
{locations}
        location / {{ return 404; }}
    }}
}}
"""


#: where the delaying nginx keeps the undelayed answers (internal: no client can ask for them)
_UNDELAYED = "/_undelayed"

#: where the delaying nginx answers each GET after three delays, a home's whole critical path
#: in one hop: the harness floor of the latency scenario for a request in flight as long as a
#: home (benchmarks/run.py)
CRITICAL = "/_critical"


def _answer(fixture: Fixture, path: str, file: Path) -> str:
    """The directives that answer ``path`` with its recorded body."""
    if path in fixture.posts:
        # nginx answers a POST to a static file with 405; ``return`` serves any method.
        body = file.read_text().replace("\\", "\\\\").replace("'", "\\'")
        return f"default_type application/json; return 200 '{body}';"
    return f"alias {file}; default_type application/json;"


def _location(fixture: Fixture, path: str, file: Path, delay_ms: int) -> str:
    answer = _answer(fixture, path, file)
    if not delay_ms:
        return f"        location = {path} {{ {answer} }}"
    # echo_sleep arms a timer in nginx's event loop; when it fires, echo_exec redirects the
    # request internally to the undelayed answer, which nginx then serves like the static
    # fixture (the file with sendfile and a content-length, or the POST's ``return``).
    held = (
        f"        location = {path} {{ echo_sleep {delay_ms / 1000:.3f}; "
        f"echo_exec {_UNDELAYED}{path}; }}\n"
        f"        location = {_UNDELAYED}{path} {{ internal; {answer} }}"
    )
    if path in fixture.posts:
        return held
    return (
        f"{held}\n        location = {CRITICAL}{path} {{ echo_sleep {3 * delay_ms / 1000:.3f}; "
        f"echo_exec {_UNDELAYED}{path}; }}"
    )


def write_nginx_conf(fixture: Fixture, port: int, delay_ms: int = 0) -> Path:
    """nginx.conf serving every recorded path, each answer held ``delay_ms`` first if > 0
    (with the echo module, Debian's libnginx-mod-http-echo)."""
    name = f"nginx-delay{delay_ms}" if delay_ms else "nginx"
    (fixture.root / f"{name}-tmp").mkdir(exist_ok=True)
    locations = "\n".join(
        _location(fixture, path, file, delay_ms) for path, file in sorted(fixture.files.items())
    )
    conf = fixture.root / f"{name}.conf"
    conf.write_text(
        NGINX_CONF.format(
            job=f"each held {delay_ms} ms (echo_sleep)" if delay_ms else "served static",
            modules=f"load_module {ECHO_MODULE};\n" if delay_ms else "",
            root=fixture.root,
            name=name,
            port=port,
            locations=locations,
        )
    )
    # nginx workers may drop to an unprivileged user: let them read the files.
    for p in [fixture.root, fixture.root / "bodies", *fixture.files.values()]:
        p.chmod(0o755 if p.is_dir() else 0o644)
    return conf


def serve(
    fixture: Fixture, procs: Processes, cpu: int, *, delay_ms: int = 0, name: str = "nginx"
) -> str:
    """Start nginx serving the fixture on a free port pinned to ``cpu`` (each answer held
    ``delay_ms`` first if > 0), as process ``name``; wait until it answers, and return its base
    URL (the one every upstream of a benchmarked BFF points to)."""
    # Every benchmark that serves the fixture gets nginx installed on a fresh machine, not
    # only benchmarks.run (`make bench` starts with benchmarks.tracing).
    ensure_tools()
    (port,) = free_ports(1)
    conf = write_nginx_conf(fixture, port, delay_ms)
    upstream = f"http://127.0.0.1:{port}"
    procs.start(
        name,
        ["nginx", "-p", str(fixture.root), "-c", str(conf),
         "-e", str(conf.with_name(conf.stem + "-error.log"))],
        cpu=cpu,
    )  # fmt: skip
    procs.wait_http(name, upstream + JWKS_PATH, require_ok=True)
    return upstream


CONTENDER_NGINX = """\
# generated by benchmarks/fixture.py: nginx as a contender ({job})
worker_processes 1;
daemon off;
pid {root}/nginx.pid;
error_log {root}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {root}/tmp;
    proxy_temp_path {root}/tmp;
    keepalive_requests 1000000;
    keepalive_timeout 120s;
    sendfile on;
    tcp_nodelay on;
    open_file_cache max=64;
    etag off;
{upstream}
    server {{
        listen 127.0.0.1:{port} backlog=4096;
{locations}
        location / {{ return 404; }}
    }}
}}
"""


def write_proxy_conf(root: Path, port: int, upstream: str) -> Path:
    """nginx relaying ``/v1/users/{id}`` to ``{upstream}/users/{id}`` over kept-alive
    connections: the practical limit of one proxy hop."""
    host = upstream.removeprefix("http://")
    return _write_contender_conf(
        root,
        "proxy_pass",
        port,
        f"    upstream backend {{ server {host}; keepalive 256; keepalive_requests 1000000; }}",
        "        location /v1/users/ {\n"
        "            proxy_pass http://backend/users/;\n"
        "            proxy_http_version 1.1;\n"
        '            proxy_set_header Connection "";\n'
        "        }",
    )


def write_static_conf(root: Path, port: int, path: str, body: bytes) -> Path:
    """nginx answering ``GET {path}`` with ``body`` from a file (the cache-hit peer)."""
    root.mkdir(parents=True, exist_ok=True)
    file = root / "body.json"
    file.write_bytes(body)
    file.chmod(0o644)
    return _write_contender_conf(
        root,
        "static file",
        port,
        "",
        f"        location = {path} {{ alias {file}; default_type application/json; }}",
    )


def _write_contender_conf(root: Path, job: str, port: int, upstream: str, locations: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)
    (root / "tmp").mkdir(exist_ok=True)
    conf = root / "nginx.conf"
    conf.write_text(
        CONTENDER_NGINX.format(
            job=job, root=root, port=port, upstream=upstream, locations=locations
        )
    )
    return conf
