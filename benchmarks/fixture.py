"""The upstream fixture: what the mobile home really fetches, served as static files by nginx.

The reference services are started once (Platform API, services only, ephemeral ports, a
temporary data directory), alice logs in, and the mobile BFF's ``HOME`` plan runs once against
them through a transport that records every call. The recorded bodies (and the accounts JWKS)
are written to files and an nginx.conf maps each exact path to its file, so during the load
the upstreams cost almost nothing and every contender reads the same bytes.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from tailor.aggregate import run_plan
from tailor.upstream import ServiceRegistry, UpstreamClient, UpstreamRequest, UpstreamResponse
from tailor.upstream.pyreqwest_transport import PyreqwestTransport
from waveform.bffs.mobile.app import HOME
from waveform.supervisor import Platform

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

    def describe(self) -> list[str]:
        return [
            f"{c.method} {urlsplit(c.url).path}"
            + (f"?{urlsplit(c.url).query}" if urlsplit(c.url).query else "")
            + f" -> {c.status}, {len(c.body)} B"
            for c in self.calls
        ]


def _post_json(url: str, payload: dict[str, str]) -> dict[str, object]:
    req = urllib.request.Request(
        url,
        data=json.dumps(payload).encode(),
        headers={"content-type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return dict(json.loads(resp.read()))
    except urllib.error.HTTPError as exc:
        detail = exc.read()[:300].decode(errors="replace")
        raise RuntimeError(f"POST {url} answered {exc.code}: {detail}") from exc


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return bytes(resp.read())


async def _record_home(urls: dict[str, str]) -> list[Recorded]:
    transport = RecordingTransport(PyreqwestTransport())
    client = UpstreamClient(ServiceRegistry(urls), transport)
    try:
        outcome = await run_plan(HOME, client, {"user_id": USER_ID})
    finally:
        await transport.aclose()
    if outcome.degraded:
        raise RuntimeError(f"the home plan degraded against the real services: {outcome.degraded}")
    return transport.calls


def record(root: Path) -> Fixture:
    """Start the services, record the home fan-out and the JWKS into ``root``, stop them."""
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
        urls = {name: platform.url(name) for name in platform.ports}
        login = _post_json(
            urls["accounts"] + "/login",
            {"username": USER, "password": PASSWORD, "audience": AUDIENCE},
        )
        token = str(login["access_token"])
        calls = asyncio.run(_record_home(urls))
        jwks = _get(urls["accounts"] + JWKS_PATH)
    fixture = Fixture(root=root, token=token, calls=calls)
    bodies = root / "bodies"
    bodies.mkdir(exist_ok=True)
    for i, call in enumerate(calls):
        if call.status != 200:
            raise RuntimeError(f"{call.url} answered {call.status} while recording")
        path = urlsplit(call.url).path
        if path in fixture.files:
            # Same path twice (e.g. /users?ids=... after /users/u1 differs; a repeat does not):
            # nginx ignores queries, so two different bodies on one path cannot be served.
            if fixture.files[path].read_bytes() != call.body:
                raise RuntimeError(f"two different bodies recorded for {path}")
            continue
        file = bodies / f"{i:02d}.json"
        file.write_bytes(call.body)
        fixture.files[path] = file
    jwks_file = bodies / "jwks.json"
    jwks_file.write_bytes(jwks)
    fixture.files[JWKS_PATH] = jwks_file
    (root / "recorded.json").write_text(
        json.dumps(
            [
                {"upstream": c.upstream, "url": c.url, "headers": c.headers, "bytes": len(c.body)}
                for c in calls
            ],
            indent=2,
        )
    )
    return fixture


NGINX_CONF = """\
# generated by benchmarks/fixture.py: the recorded upstream bodies, served static
worker_processes 1;
daemon off;
pid {root}/nginx.pid;
error_log {root}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {root}/tmp;
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


def write_nginx_conf(fixture: Fixture, port: int) -> Path:
    (fixture.root / "tmp").mkdir(exist_ok=True)
    locations = "\n".join(
        f"        location = {path} {{ alias {file}; default_type application/json; }}"
        for path, file in sorted(fixture.files.items())
    )
    conf = fixture.root / "nginx.conf"
    conf.write_text(NGINX_CONF.format(root=fixture.root, port=port, locations=locations))
    # nginx workers may drop to an unprivileged user: let them read the files.
    for p in [fixture.root, fixture.root / "bodies", *fixture.files.values()]:
        p.chmod(0o755 if p.is_dir() else 0o644)
    return conf
