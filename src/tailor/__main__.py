"""``python -m tailor <tool> ...``: the library's tools, one module each.

python -m tailor dashboard --target mobile=http://127.0.0.1:8181
python -m tailor slo ops/slo.toml --out ops
python -m tailor new tv --package waveform.bffs
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from importlib import import_module

#: Tool name -> the module whose ``main(argv)`` runs it (imported only when asked for).
TOOLS: dict[str, str] = {
    "dashboard": "tailor.dashboard.cli",
    "new": "tailor.scaffold.cli",
    "slo": "tailor.slo.cli",
}


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(f"usage: python -m tailor {{{','.join(TOOLS)}}} ...")
        return 0 if args else 2
    module = TOOLS.get(args[0])
    if module is None:
        print(f"unknown tool {args[0]!r}; one of: {', '.join(TOOLS)}", file=sys.stderr)
        return 2
    run: Callable[[Sequence[str]], int] = import_module(module).main
    return run(args[1:])


if __name__ == "__main__":
    sys.exit(main())
