"""users and catalog over gRPC or Connect from the recorded fixture: what the fixture nginx is
to a BFF calling them over HTTP/1.1 JSON, for one calling them over an RPC wire.

    python -m benchmarks.grpc_replay --files FILES.json --port users=P --port catalog=Q
    python -m benchmarks.grpc_replay --wire connect --files FILES.json --port users=P ...

Each method is answered as the services answer it (waveform's gRPC API: the JSON route its
``google.api.http`` rule names, cut to the call's read mask, as the response message), the
route's JSON being the body the fixture recorded for that path (queries dropped, as nginx
matches them). Each distinct request's answer is made once and then replayed as bytes: the
home asks the same calls every time, so under load the server costs its gRPC wire's own work per
call, as nginx costs a static file. With ``--wire connect`` the same answers are served over
the Connect protocol (waveform's Connect API, protobuf, on uvicorn over HTTP/1.1), replayed
likewise. Prints ``ready`` once every port serves.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import uvicorn
import uvloop
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.types import Message as AsgiMessage

from tailor.upstream.grpc.descriptors import bindings, load_pool
from waveform.protos import SERVICES, descriptor_set
from waveform.services.grpc_api import MethodRoute, connect_api
from waveform.services.grpc_server import GrpcServer, Method

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


def replayed_connect(app: ASGIApp) -> ASGIApp:
    """``app`` (a Connect API), each distinct call's answer made once and replayed after."""
    answers: dict[tuple[str, bytes], list[AsgiMessage]] = {}

    async def handle(scope: Scope, receive: Receive, send: Send) -> None:
        body, more = b"", True
        while more:
            message = await receive()
            body, more = body + message.get("body", b""), message.get("more_body", False)
        key = (scope["path"], body)
        made = answers.get(key)
        if made is None:
            made = []

            async def again() -> AsgiMessage:
                return {"type": "http.request", "body": body, "more_body": False}

            async def keep(message: AsgiMessage) -> None:
                made.append(message)

            await app(scope, again, keep)
            answers[key] = made
        for message in made:
            await send(message)

    return handle


async def serve_connect(files: dict[str, str], ports: dict[str, int]) -> None:
    app = recorded_routes(files)
    served = []
    for service, port in ports.items():
        # Listening from here on: a connection made before uvicorn serves waits in the backlog.
        sock = socket.create_server(("127.0.0.1", port))
        config = uvicorn.Config(
            replayed_connect(connect_api(app, service)),
            lifespan="off",
            log_level="warning",
            access_log=False,
        )
        served.append(uvicorn.Server(config).serve(sockets=[sock]))
    print("ready", flush=True)
    await asyncio.gather(*served)


async def serve(files: dict[str, str], ports: dict[str, int]) -> None:
    app = recorded_routes(files)
    pool = load_pool([descriptor_set()])
    servers = []
    for service, port in ports.items():
        methods = {
            b.method: Method(unary=replayed(MethodRoute(app, b).grpc))
            for b in bindings(pool, SERVICES[service], f"services.{service}")
        }
        server = GrpcServer(methods)  # the services' own gRPC server
        await server.start("127.0.0.1", port)
        servers.append(server)
    print("ready", flush=True)
    await asyncio.Event().wait()  # until killed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.grpc_replay", description=__doc__)
    parser.add_argument("--files", required=True, help="JSON: recorded path -> body file")
    parser.add_argument("--port", action="append", required=True, help="service=port")
    parser.add_argument("--wire", choices=("grpc", "connect"), default="grpc")
    args = parser.parse_args(argv)
    files = json.loads(Path(args.files).read_text())
    ports = {name: int(port) for name, _, port in (p.partition("=") for p in args.port)}
    uvloop.run((serve_connect if args.wire == "connect" else serve)(files, ports))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
