"""``python -m tailor.govern classes MODULE... [--write FILE | --check FILE]``: what each BFF
exposes and reads, by data class.

Each ``MODULE`` is a BFF as ``python -m tailor.govern openapi`` takes it (``package.module``
with ``PROFILE`` and ``build``, or ``module:factory``). The page is Markdown on stdout;
``--write FILE`` writes it and ``--check FILE`` exits 1 when FILE is not what it would write
(``make test`` keeps the committed page current this way). Unlabelled fields are listed on
stderr and exit 1 as well.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

import msgspec

from tailor.app import BFF
from tailor.govern.command import Command, load_bff
from tailor.govern.exposure import (
    Exposed,
    answered,
    by_class,
    consumed_structs,
    exposed_fields,
    unlabelled,
)
from tailor.govern.labels import DataClass, FieldClass, struct_fields

HEADER = """# Data classes: what each BFF exposes

Generated from the data classes of the response and consumed structs; `make test` fails when
it is out of date. How to label a field and allow a personal one: [governance](governance.md).
Refresh it with:

    python -m tailor.govern classes \\
      {modules} \\
      --write {path}
"""


def render(bffs: Iterable[BFF], modules: Sequence[str], path: str) -> str:
    """The page: per BFF, its responses, the fields they expose and what it reads, by class."""
    out = [HEADER.format(modules=" \\\n      ".join(modules), path=path)]
    for bff in bffs:
        routes = bff.router.routes
        out.append(f"## {bff.config.name}\n")
        bodies = [(r, answered(r)) for r in routes]
        listed = [
            f"`{r.method} {r.template}` → `{getattr(body, '__name__', body)}`"
            for r, body in bodies
            if body is not None
        ]
        out.append("Responses: " + ", ".join(listed) + ".\n")
        out.append("| class | exposed in responses |\n|---|---|")
        for data_class, fields in by_class(exposed_fields(bff.config.governance, routes)).items():
            out.append(f"| {_name(data_class)} | {_cell(data_class, fields)} |")
        out.append("\n| service | class | read from it |\n|---|---|---|")
        for upstream, structs in _by_upstream(consumed_structs(routes)).items():
            read = [f for s in structs for f in struct_fields(s) if f.leaf]
            for data_class in [*reversed(DataClass), None]:
                keys = [f.key for f in read if f.data_class is data_class]
                if keys:
                    out.append(f"| {upstream} | {_name(data_class)} | {_keys(keys)} |")
        out.append("")
    return "\n".join(out)


def _by_upstream(
    found: dict[type[msgspec.Struct], list[str]],
) -> dict[str, list[type[msgspec.Struct]]]:
    grouped: dict[str, list[type[msgspec.Struct]]] = {}
    for struct, upstreams in found.items():
        for upstream in upstreams:
            grouped.setdefault(upstream, []).append(struct)
    return dict(sorted(grouped.items()))


def _name(data_class: DataClass | None) -> str:
    return data_class.value if data_class is not None else "**unlabelled**"


def _cell(data_class: DataClass | None, fields: list[Exposed]) -> str:
    if data_class is not None and data_class.guarded:
        return "<br>".join(f"`{e.field.key}` ({', '.join(e.routes)}): {e.reason}" for e in fields)
    return _keys([e.field.key for e in fields])


def _keys(keys: list[str]) -> str:
    """``A.x, A.y, B.z`` as ``A: x, y; B: z``: a struct's fields on one line."""
    structs: dict[str, list[str]] = {}
    for key in keys:
        struct, _, field = key.partition(".")
        structs.setdefault(struct, []).append(field)
    return "; ".join(f"`{s}`: {', '.join(f)}" for s, f in structs.items())


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("modules", nargs="+", metavar="module", help="one BFF per module")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", metavar="FILE", help="write the page to FILE")
    mode.add_argument("--check", metavar="FILE", help="exit 1 unless FILE is the page")


def _run(args: argparse.Namespace) -> int:
    bffs = [load_bff(m) for m in args.modules]
    missing: list[FieldClass] = [f for bff in bffs for f in unlabelled(bff.router.routes)]
    for f in missing:
        print(f"unlabelled: {f.key} ({f.struct.__module__})", file=sys.stderr)
    page = render(bffs, args.modules, args.write or args.check or "FILE")
    if args.write:
        Path(args.write).write_text(page)
    elif args.check:
        path = Path(args.check)
        if not path.is_file() or path.read_text() != page:
            print(f"{path} is out of date: run with --write {path}", file=sys.stderr)
            return 1
    else:
        sys.stdout.write(page)
    return 1 if missing else 0


COMMAND = Command(
    "classes", "print, write or check the data classes each BFF exposes", _configure, _run
)
