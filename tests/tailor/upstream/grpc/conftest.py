"""The test service (library.proto) compiled once per session, a real gRPC server on
loopback whose answers each test scripts, and a scripted HTTP/2 peer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from h2_peer import H2Peer
from library_server import SERVICE, ScriptedGrpc

from tailor.upstream.grpc.descriptors import Binding, bindings, load_pool
from tailor.upstream.grpc.transport import GrpcTransport

HERE = Path(__file__).parent


@pytest.fixture(scope="session")
def descriptor_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import google.api
    from grpc_tools import protoc

    out = tmp_path_factory.mktemp("protos") / "library.binpb"
    googleapis = Path(next(iter(google.api.__path__))).parent.parent
    argv = [
        "protoc",
        f"-I{HERE}",
        f"-I{googleapis}",
        f"-I{Path(protoc.__file__).parent / '_proto'}",
        "--include_imports",
        f"--descriptor_set_out={out}",
        "library.proto",
    ]
    assert protoc.main(argv) == 0
    return out


@pytest.fixture(scope="session")
def routes(descriptor_set: Path) -> list[Binding]:
    return bindings(load_pool([descriptor_set]), SERVICE, "grpc.services.library")


@pytest.fixture
async def library(routes: list[Binding]) -> AsyncIterator[ScriptedGrpc]:
    server = ScriptedGrpc(routes)
    await server.start()
    yield server
    await server.server.stop(0)


@pytest.fixture
async def peer() -> AsyncIterator[H2Peer]:
    """A scripted HTTP/2 peer; each test gives it its ``script``."""
    made = H2Peer(lambda conn, stream_id: None)
    await made.start()
    yield made
    await made.stop()


@pytest.fixture
async def transport(library: ScriptedGrpc) -> AsyncIterator[GrpcTransport]:
    made = GrpcTransport({"library": library.upstream()})
    yield made
    await made.aclose()
