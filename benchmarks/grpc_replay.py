"""users and catalog over gRPC from the recorded fixture: what the fixture nginx is to a BFF
calling them over HTTP/1.1 JSON, for one calling them over gRPC.

    python -m benchmarks.grpc_replay --files FILES.json --port users=P --port catalog=Q

Each method is answered as the services answer it (waveform's gRPC API: the JSON route its
``google.api.http`` rule names, cut to the call's read mask, as the response message), the
route's JSON being the body the fixture recorded for that path (queries dropped, as nginx
matches them). Each distinct request's answer is made once and then replayed as bytes: the
home asks the same calls every time, so under load the server costs grpcio's own work per
call, as nginx costs a static file. Prints ``ready`` once every port serves.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc
import uvloop
from starlette.types import Receive, Scope, Send

from tailor.upstream.grpc.descriptors import bindings, load_pool
from waveform.protos import SERVICES, descriptor_set
from waveform.services.grpc_api import MethodRoute

Unary = Callable[[bytes, Any], Awaitable[bytes]]


def recorded_routes(files: dict[str, str]) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """An ASGI app answering each recorded path with its recorded body (404 else)."""
    bodies = {path: Path(file).read_bytes() for path, file in files.items()}

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        body = bodies.get(scope["path"])
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": 200 if body else 404,
                    "headers": headers})  # fmt: skip
        await send({"type": "http.response.body", "body": body or b'{"title": "Not Found"}'})

    return app


def replayed(answer: Unary) -> Unary:
    """``answer``, made once per distinct request and replayed after."""
    answers: dict[bytes, bytes] = {}

    async def handle(raw: bytes, context: Any) -> bytes:
        made = answers.get(raw)
        if made is None:
            made = answers[raw] = await answer(raw, context)
        return made

    return handle


async def serve(files: dict[str, str], ports: dict[str, int]) -> None:
    app = recorded_routes(files)
    pool = load_pool([descriptor_set()])
    servers = []
    for service, port in ports.items():
        full_name = SERVICES[service]
        handlers = {
            b.name: grpc.unary_unary_rpc_method_handler(replayed(MethodRoute(app, b).grpc))
            for b in bindings(pool, full_name, f"services.{service}")
        }
        server = grpc.aio.server()
        server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(full_name, handlers),)
        )
        server.add_insecure_port(f"127.0.0.1:{port}")
        await server.start()
        servers.append(server)
    print("ready", flush=True)
    await asyncio.Event().wait()  # until killed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.grpc_replay", description=__doc__)
    parser.add_argument("--files", required=True, help="JSON: recorded path -> body file")
    parser.add_argument("--port", action="append", required=True, help="service=port")
    args = parser.parse_args(argv)
    files = json.loads(Path(args.files).read_text())
    ports = {name: int(port) for name, _, port in (p.partition("=") for p in args.port)}
    uvloop.run(serve(files, ports))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
