"""``python -m tailor new <name>``: a new BFF, working and tested, in one command.

    python -m tailor new kiosk                       # src/kiosk/, tests/test_kiosk.py
    python -m tailor new tv --package waveform.bffs --src platform/src \\
        --tests tests/waveform/bffs --port 8085 --admin-port 8185

Writes the BFF's package (``__init__``, ``__main__``, ``app`` with its profile, consumed
structs, plan, shape and route) and a test at the transport seam; where the platform under
``--root`` has them, its section of ``ops/slo.toml`` (and the rules, routing and dashboard
targets generated from it) and ``docs/openapi/<name>.json``. It never overwrites a file of a
BFF: an existing one stops it, naming it (exit status 2).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from tailor.errors import ConfigError
from tailor.scaffold.platform import add_slo, importable, write_openapi
from tailor.scaffold.render import NewBff, module_files


def scaffold(root: Path, new: NewBff) -> list[Path]:
    """Write the new BFF under ``root``; the paths written, in order."""
    files = {root / path: text for path, text in module_files(new).items()}
    for path in files:
        if path.exists():
            raise ConfigError("name", f"{path} already exists: choose another name")
    written = []
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        written.append(path)
    importable(root, new)
    written += add_slo(root, new)
    written += write_openapi(root, new)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tailor new",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("name", help="the BFF's name: its module, job and audience")
    parser.add_argument("--package", default="", help="the package to put it in (none)")
    parser.add_argument("--src", default="src", help="the source directory (src)")
    parser.add_argument("--tests", default="tests", help="where its test goes (tests)")
    parser.add_argument("--port", type=int, default=8090, help="its port (8090)")
    parser.add_argument("--admin-port", type=int, help="its admin port (port + 100)")
    parser.add_argument("--root", default=".", help="the project's root (.)")
    args = parser.parse_args(argv)
    root = Path(args.root)
    try:
        new = NewBff(
            args.name, args.package, args.port,
            args.admin_port if args.admin_port is not None else args.port + 100,
            Path(args.src), Path(args.tests),
        )  # fmt: skip
        written = scaffold(root, new)
    except ConfigError as exc:
        print(f"tailor new: {exc}", file=sys.stderr)
        return 2
    for path in written:
        print(f"wrote {path}")
    print(
        f"next: pytest {root / new.tests / f'test_{new.name}.py'}; "
        f"python -m {new.module} (docs/scaffold.md)"
    )
    return 0
