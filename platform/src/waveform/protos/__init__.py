"""The platform's gRPC contracts: ``.proto`` files under this package, compiled offline.

The protos are the source of truth; what tailor and the services load is their compiled
``FileDescriptorSet`` (``waveform.binpb`` here, with every import included), built by
``grpcio-tools``' bundled protoc when the package is installed (``make`` runs ``python -m
waveform.protos``) and again on first use whenever a proto is newer than it. No generated
Python is committed: message classes are made from the descriptors at startup
(``tailor.upstream.grpc.descriptors``), so a proto change cannot leave a stale copy behind,
and the same descriptor set feeds the transcoded routes of the public BFF.

>>> sorted(SERVICES)
['catalog', 'users']
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent
DESCRIPTOR_SET = ROOT / "waveform.binpb"
#: Upstream name -> the gRPC service it serves.
SERVICES = {
    "catalog": "waveform.catalog.v1.CatalogService",
    "users": "waveform.users.v1.UsersService",
}


def proto_files() -> list[Path]:
    return sorted(ROOT.rglob("*.proto"))


def descriptor_set() -> Path:
    """The compiled descriptor set, compiled first when missing or older than a proto."""
    protos = proto_files()
    if DESCRIPTOR_SET.exists():
        built = DESCRIPTOR_SET.stat().st_mtime
        if all(p.stat().st_mtime <= built for p in protos):
            return DESCRIPTOR_SET
    compile_protos(DESCRIPTOR_SET)
    return DESCRIPTOR_SET


def compile_protos(out: Path) -> None:
    """Run protoc (in-process, offline) over every proto into ``out``; written to a
    temporary file first so a concurrent reader never sees half a file."""
    import google.api
    from grpc_tools import protoc

    tools_include = Path(protoc.__file__).resolve().parent / "_proto"
    googleapis = Path(next(iter(google.api.__path__))).resolve().parent.parent
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    argv = [
        "protoc",
        f"-I{ROOT}",
        f"-I{googleapis}",
        f"-I{tools_include}",
        "--include_imports",
        "--include_source_info",
        f"--descriptor_set_out={tmp}",
        *(str(p.relative_to(ROOT)) for p in proto_files()),
    ]
    if protoc.main(argv) != 0:
        tmp.unlink(missing_ok=True)
        raise RuntimeError(f"protoc failed on {ROOT} (see its message above)")
    os.replace(tmp, out)
