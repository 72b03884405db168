"""How each contender is started: one function per stack, each returning a ``Contender`` whose
``start`` spawns it (pinned with ``taskset``) and waits until it answers.

Every factory takes the upstream base URL, the cores (``"0"`` or ``"0,1"``) and, where the
stack has them, a worker count; ports are picked free at build time.
"""

from __future__ import annotations

import contextlib
import json
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from benchmarks import fixture, tools
from benchmarks.procs import Processes
from benchmarks.ratelimit.pipeline_cost import NEVER_REFUSING
from waveform.bffs.quotas import READ_QUOTAS
from waveform.bffs.upstreams import grpc_settings
from waveform.services import SERVICES
from waveform.supervisor import TOKEN_SECRET_ENV, free_ports

ROOT = Path(__file__).resolve().parent.parent
HOME_PATH = "/v1/home"
PASS_PATH = f"/v1/users/{fixture.USER_ID}"


@dataclass
class Contender:
    key: str
    label: str
    note: str
    port: int
    start: Callable[[Processes, str], None]  # (processes, process name)
    path: str = HOME_PATH
    workers: int = 1
    #: the process name in ``Processes`` while it runs (``<scenario>-<key>``)
    name: str = ""
    #: tailor's admin listener (``/metrics``), when it has one on
    admin: int | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"


def _peer_env(upstream: str) -> dict[str, str]:
    return {"BENCH_UPSTREAM": upstream, "BENCH_USER_ID": fixture.USER_ID}


def tailor_full(
    upstream: str,
    work: Path,
    cpu: str,
    *,
    workers: int = 1,
    cache: bool = False,
    rpc: dict[str, str] | None = None,
) -> Contender:
    """The real mobile BFF (``python -m waveform.bffs.mobile``) with its full profile; ``rpc``:
    the upstreams it calls over gRPC instead (name -> ``grpc://`` URL)."""
    port, admin = free_ports(2)
    config = work / f"tailor-mobile-{port}.json"
    config.write_text(
        json.dumps(
            {
                "listen": {"host": "127.0.0.1", "port": port},
                # With N workers each claims one of admin .. admin + N - 1, and only admin is
                # reserved here: the admin listener stays off with workers > 1, as in the
                # committed runs.
                "admin": {"host": "127.0.0.1", "port": admin, "enabled": workers == 1},
                "upstreams": {**dict.fromkeys(SERVICES, upstream), **(rpc or {})},
                **({"grpc": grpc_settings()} if rpc else {}),
                "server": {"workers": workers},
                # Aggregation scenarios turn the edge cache off: it would answer from memory
                # after the first request. The cache-hit scenario turns it on.
                "cache": {"enabled": cache},
                # The profile's per-user and per-app read quotas, charged on every request
                # with limits no run reaches: the limiter is paid for, never refuses.
                "rate_limit": {"policies": {name: NEVER_REFUSING[name] for name in READ_QUOTAS}},
            },
            indent=2,
        )
    )

    def start(p: Processes, name: str) -> None:
        p.start(
            name,
            [sys.executable, "-m", "waveform.bffs.mobile", "--config", str(config)],
            cpu=cpu,
            env={TOKEN_SECRET_ENV: "bench"},  # the fixture answers any exchange
            cwd=ROOT,
        )
        p.wait_http(name, f"http://127.0.0.1:{admin if workers == 1 else port}/healthz")

    if cache:
        return Contender(
            "tailor-cache",
            "tailor, edge cache hit (mobile BFF)",
            "the full mobile pipeline with its edge cache on (memory backend): JWT, "
            "entitlements, rate limit (the per-user and per-app read quotas) and the rest run, "
            "the home comes "
            "from the cache",
            port,
            start,
            workers=workers,
        )
    if rpc:
        return Contender(
            "tailor-grpc",
            "tailor, full pipeline, " + " and ".join(sorted(rpc)) + " over gRPC (mobile BFF)",
            "the full mobile pipeline, users and catalog called over gRPC (grpcio, read "
            "masks) from benchmarks/grpc_replay.py, the other services from the fixture nginx",
            port,
            start,
            workers=workers,
            admin=admin if workers == 1 else None,
        )
    return Contender(
        "tailor",
        "tailor, full pipeline (mobile BFF)",
        "tailor's HTTP/1.1 server and in-loop HTTP/1.1 client; RS256 JWT, entitlements, "
        "rate limit "
        "(per-user and per-app read quotas charged on every request, memory), "
        "shedding, "
        "internal-token exchange (cached), resilience, metrics; edge cache off"
        + ("; admin listener off" if workers > 1 else ""),
        port,
        start,
        workers=workers,
        admin=admin if workers == 1 else None,
    )


def _tailor_server(
    factory: str, upstream: str, cpu: str, workers: int
) -> tuple[int, Callable[[Processes, str], None]]:
    """A BFF factory on tailor's own HTTP/1.1 server (``python -m tailor.serve``)."""
    (port,) = free_ports(1)

    def start(p: Processes, name: str) -> None:
        p.start(
            name,
            [sys.executable, "-m", "tailor.serve", "--host", "127.0.0.1", "--port", str(port),
             "--workers", str(workers), factory],
            cpu=cpu,
            env=_peer_env(upstream),
            cwd=ROOT,
        )  # fmt: skip
        p.wait_http(name, f"http://127.0.0.1:{port}/nope")

    return port, start


def tailor_bare(upstream: str, cpu: str, *, workers: int = 1) -> Contender:
    port, start = _tailor_server("benchmarks.peers.tailor_bare:create", upstream, cpu, workers)
    return Contender(
        "tailor-bare",
        "tailor, handler only",
        "the same home plan and shaping with no edge stage; caller from the environment",
        port,
        start,
        workers=workers,
    )


def tailor_passthrough(upstream: str, cpu: str) -> Contender:
    port, start = _tailor_server("benchmarks.peers.tailor_passthrough:create", upstream, cpu, 1)
    return Contender(
        "tailor-pass",
        "tailor, one-Part relay",
        "tailor's HTTP/1.1 server and in-loop HTTP/1.1 client; a one-Part plan whose raw body is "
        "answered as it came "
        "(benchmarks/peers/tailor_passthrough.py), no edge stage",
        port,
        start,
        path=PASS_PATH,
    )


def fastapi_httpx(upstream: str, cpu: str) -> Contender:
    (port,) = free_ports(1)

    def start(p: Processes, name: str) -> None:
        p.start(
            name,
            [sys.executable, "-m", "benchmarks.peers.fastapi_httpx", "--port", str(port)],
            cpu=cpu,
            env=_peer_env(upstream),
            cwd=ROOT,
        )
        p.wait_http(name, f"http://127.0.0.1:{port}/openapi.json")

    return Contender(
        "fastapi",
        "FastAPI + httpx",
        "shared httpx.AsyncClient with defaults, pydantic models, uvicorn; no JWT check",
        port,
        start,
    )


def fastapi_aiohttp(upstream: str, cpu: str, *, workers: int = 1) -> Contender:
    (port,) = free_ports(1)

    def start(p: Processes, name: str) -> None:
        p.start(
            name,
            [sys.executable, "-m", "benchmarks.peers.fastapi_aiohttp", "--port", str(port),
             "--workers", str(workers)],
            cpu=cpu,
            env=_peer_env(upstream),
            cwd=ROOT,
        )  # fmt: skip
        p.wait_http(name, f"http://127.0.0.1:{port}/openapi.json")

    return Contender(
        "fastapi-aiohttp",
        "FastAPI + aiohttp",
        "one shared aiohttp.ClientSession (connector limit 1024), msgspec decode/encode, "
        "uvicorn on uvloop; no JWT check",
        port,
        start,
        workers=workers,
    )


def node(upstream: str, cpu: str, *, workers: int = 1, path: str = HOME_PATH) -> Contender:
    (port,) = free_ports(1)

    def start(p: Processes, name: str) -> None:
        p.start(
            name,
            ["node", "server.js", "--port", str(port)],
            cpu=cpu,
            env={**_peer_env(upstream), "NODE_ENV": "production", "BENCH_WORKERS": str(workers)},
            cwd=tools.NODE_DIR,
        )
        p.wait_http(name, f"http://127.0.0.1:{port}/nope")

    note = "undici Pool (keep-alive, 256 connections); no JWT check"
    if workers > 1:
        note += f"; node:cluster, {workers} processes"
    if path != HOME_PATH:
        note = "fastify route streaming the undici Pool's response body back"
    return Contender("node", "Node fastify + undici", note, port, start, path, workers)


def _nginx(root: Path, conf: Path, cpu: str) -> Callable[[Processes, str], None]:
    def start(p: Processes, name: str) -> None:
        p.start(
            name, ["nginx", "-p", str(root), "-c", str(conf), "-e", str(root / "err.log")], cpu=cpu
        )

    return start


def nginx_proxy(upstream: str, work: Path, cpu: str) -> Contender:
    (port,) = free_ports(1)
    root = work / "nginx-proxy"
    start_nginx = _nginx(root, fixture.write_proxy_conf(root, port, upstream), cpu)

    def start(p: Processes, name: str) -> None:
        start_nginx(p, name)
        p.wait_http(name, f"http://127.0.0.1:{port}/nope")

    return Contender(
        "nginx",
        "nginx proxy_pass",
        "one worker, upstream keepalive 256, HTTP/1.1 to the upstream, buffering on (defaults)",
        port,
        start,
        path=PASS_PATH,
    )


def _floor(
    work: Path, cpu: str, body: bytes, headers: list[tuple[str, str]], server: list[str]
) -> tuple[int, Callable[[Processes, str], None]]:
    """A server answering the cache hit's bytes and headers with no code in between:
    ``server`` is its command line up to the factory, which reads them from the environment."""
    root = work / server[0].partition(":")[0].rpartition(".")[2]  # e.g. "http1_floor"
    root.mkdir(parents=True, exist_ok=True)
    (root / "body.json").write_bytes(body)
    (port,) = free_ports(1)

    def start(p: Processes, name: str) -> None:
        p.start(
            name,
            [sys.executable, *server[1:], "--host", "127.0.0.1", "--port", str(port), server[0]],
            cpu=cpu,
            env={"FLOOR_BODY": str(root / "body.json"), "FLOOR_HEADERS": json.dumps(headers)},
            cwd=ROOT,
        )
        p.wait_http(name, f"http://127.0.0.1:{port}{HOME_PATH}", require_ok=True)

    return port, start


def http1_floor(work: Path, cpu: str, body: bytes, headers: list[tuple[str, str]]) -> Contender:
    """tailor's HTTP/1.1 server answering the cache hit's bytes and headers with no pipeline."""
    port, start = _floor(
        work, cpu, body, headers, ["benchmarks.peers.http1_floor:create", "-m", "tailor.serve"]
    )
    return Contender(
        "floor",
        "server floor (tailor's server, no pipeline)",
        "tailor's HTTP/1.1 server answering the same bytes with the same headers as tailor's "
        "hit and nothing else: what no pipeline on this server can beat",
        port,
        start,
    )


def granian_floor(work: Path, cpu: str, body: bytes, headers: list[tuple[str, str]]) -> Contender:
    """granian RSGI answering the cache hit's bytes and headers with no code in between."""
    port, start = _floor(
        work, cpu, body, headers,
        ["benchmarks.peers.granian_floor:create", "-m", "granian", "--interface", "rsgi",
         "--factory", "--no-ws", "--loop", "uvloop", "--workers", "1"],
    )  # fmt: skip
    return Contender(
        "granian-floor",
        "granian floor (no pipeline)",
        "granian RSGI answering the same bytes with the same headers as tailor's hit and "
        "nothing else: the server tailor ran on before it had its own (src/tailor/serve/http1.py)",
        port,
        start,
    )


def granian_h2_floor(
    work: Path, cpu: str, body: bytes, headers: list[tuple[str, str]]
) -> Contender:
    """granian RSGI over HTTP/2 (h2c) answering the cache hit's bytes and headers, nothing else.
    Serving HTTP/2 only, it answers no HTTP/1.1 probe: it is waited for by its port."""
    port, _ = _floor(work, cpu, body, headers, ["benchmarks.peers.granian_floor:create"])
    root = work / "granian_floor"
    argv = [sys.executable, "-m", "granian", "--interface", "rsgi", "--factory", "--no-ws",
            "--loop", "uvloop", "--workers", "1", "--http", "2", "--host", "127.0.0.1",
            "--port", str(port), "benchmarks.peers.granian_floor:create"]  # fmt: skip

    def start(p: Processes, name: str) -> None:
        env = {"FLOOR_BODY": str(root / "body.json"), "FLOOR_HEADERS": json.dumps(headers)}
        p.start(name, argv, cpu=cpu, env=env, cwd=ROOT)
        end = time.monotonic() + 30
        while time.monotonic() < end:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                return
            time.sleep(0.1)
        raise RuntimeError(f"{name} did not listen on {port}:\n{p.log_tail(name)}")

    return Contender(
        "granian-h2",
        "granian floor over HTTP/2 (no pipeline)",
        "granian RSGI with --http 2 answering the same bytes with the same headers as tailor's "
        "hit and nothing else",
        port,
        start,
    )


def nginx_static(work: Path, cpu: str, body: bytes) -> Contender:
    (port,) = free_ports(1)
    root = work / "nginx-static"
    start_nginx = _nginx(root, fixture.write_static_conf(root, port, HOME_PATH, body), cpu)

    def start(p: Processes, name: str) -> None:
        start_nginx(p, name)
        p.wait_http(name, f"http://127.0.0.1:{port}{HOME_PATH}", require_ok=True)

    return Contender(
        "nginx",
        "nginx, static file",
        "one worker serving the same home bytes from a file (sendfile, open_file_cache)",
        port,
        start,
    )
