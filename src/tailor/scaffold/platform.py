"""What a new BFF adds to the platform around it, where the platform has it: its section
of the SLO spec and the files generated from it (docs/slo.md: rules, routing, the dashboard's
targets), and its OpenAPI document (docs/openapi.md)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

from tailor.govern.command import load_bff
from tailor.govern.openapi import render as render_document
from tailor.openapi import openapi_document
from tailor.scaffold.render import NewBff, render

SLO_SPEC = Path("ops/slo.toml")
#: Where ``python -m tailor slo`` writes; present once the platform has generated them.
OPS_DIR = Path("ops")
OPENAPI_DIR = Path("docs/openapi")


def importable(root: Path, new: NewBff) -> None:
    """Make the module just written importable in this process (its source directory)."""
    src = str((root / new.src).resolve())
    if src not in sys.path:
        sys.path.insert(0, src)
    importlib.invalidate_caches()


def add_slo(root: Path, new: NewBff) -> list[Path]:
    """Append the BFF's objectives to ``ops/slo.toml`` (if the platform has one) and, if the
    platform's ops files were generated, generate them again with the BFF in."""
    spec = root / SLO_SPEC
    if not spec.is_file() or f"[bffs.{new.name}]" in spec.read_text():
        return []
    spec.write_text(spec.read_text().rstrip("\n") + "\n" + render("slo.toml.tmpl", new))
    if not (root / OPS_DIR / "prometheus").is_dir():
        return [spec]
    from tailor.slo.cli import generate  # the ops extra (YAML), only when there is YAML to write
    from tailor.slo.spec import load

    written = [spec]
    for path, text in generate(load(spec), str(SLO_SPEC)).items():
        target = root / OPS_DIR / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        written.append(target)
    return written


def write_openapi(root: Path, new: NewBff) -> list[Path]:
    """Write the BFF's OpenAPI document into ``docs/openapi/`` (if the platform has it)."""
    directory = root / OPENAPI_DIR
    if not directory.is_dir():
        return []
    target = directory / f"{new.name}.json"
    target.write_text(render_document(openapi_document(load_bff(f"{new.module}.app"))))
    return [target]
