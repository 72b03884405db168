"""``python -m tailor.govern <command> ...``: each command is a module of this package with a
``main(argv)``; adding one is a line in ``COMMANDS``."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

COMMANDS = {
    "classes": "tailor.govern.classes",
    "contracts": "tailor.govern.contracts",
}


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] not in COMMANDS:
        print(f"usage: python -m tailor.govern {{{','.join(COMMANDS)}}} ...", file=sys.stderr)
        return 2
    command: int = importlib.import_module(COMMANDS[args[0]]).main(args[1:])
    return command


if __name__ == "__main__":
    raise SystemExit(main())
