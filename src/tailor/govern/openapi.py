"""``python -m tailor.govern openapi <module> [--write FILE | --check FILE]``: a BFF's OpenAPI
document, as committed (sorted keys, two-space indent), printed, written, or compared with
the committed file (exit 1 when it is not current, naming the command that refreshes it)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from tailor.govern.command import Command, load_bff
from tailor.openapi import openapi_document


def render(document: dict[str, Any]) -> str:
    """A document as it is committed: stable across runs, so a diff shows only changes."""
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("module", help="package.module (PROFILE and build) or module:factory")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", metavar="FILE", help="write the document to FILE")
    mode.add_argument("--check", metavar="FILE", help="exit 1 unless FILE is the document")


def _run(args: argparse.Namespace) -> int:
    text = render(openapi_document(load_bff(args.module)))
    if args.write:
        Path(args.write).write_text(text)
    elif args.check:
        path = Path(args.check)
        if not path.is_file() or path.read_text() != text:
            print(
                f"{path} is not the current document of {args.module}; refresh it with:\n"
                f"  python -m tailor.govern openapi {args.module} --write {path}",
                file=sys.stderr,
            )
            return 1
    else:
        sys.stdout.write(text)
    return 0


COMMAND = Command("openapi", "print, write or check a BFF's OpenAPI document", _configure, _run)
