"""What a new BFF adds to the platform around it, where the platform has it: its section
of the SLO spec (docs/slo.md) and its OpenAPI document (docs/openapi.md)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

from tailor.govern.command import load_bff
from tailor.govern.openapi import render as render_document
from tailor.openapi import openapi_document
from tailor.scaffold.render import NewBff, render

SLO_SPEC = Path("ops/slo.toml")
OPENAPI_DIR = Path("docs/openapi")


def add_slo(root: Path, new: NewBff) -> Path | None:
    """Append the BFF's objectives to ``ops/slo.toml`` (if the platform has one)."""
    spec = root / SLO_SPEC
    if not spec.is_file():
        return None
    text = spec.read_text()
    if f"[bffs.{new.name}]" in text:
        return None
    spec.write_text(text.rstrip("\n") + "\n" + render("slo.toml.tmpl", new))
    return spec


def write_openapi(root: Path, new: NewBff) -> Path | None:
    """Write the BFF's OpenAPI document into ``docs/openapi/`` (if the platform has it),
    from the module just written."""
    directory = root / OPENAPI_DIR
    if not directory.is_dir():
        return None
    src = str((root / new.src).resolve())
    if src not in sys.path:
        sys.path.insert(0, src)
    importlib.invalidate_caches()
    target = directory / f"{new.name}.json"
    target.write_text(render_document(openapi_document(load_bff(f"{new.module}.app"))))
    return target
