"""``python -m tailor.govern <command> [...]``: one subcommand per governance tool."""

from __future__ import annotations

import sys

from tailor.govern import sunset

COMMANDS = {"sunset-check": sunset.main}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] not in COMMANDS:
        print(f"usage: python -m tailor.govern {{{','.join(COMMANDS)}}} ...", file=sys.stderr)
        return 2
    return COMMANDS[args[0]](args[1:])


if __name__ == "__main__":
    raise SystemExit(main())
